//! The SAM template and the code agree on the environment: the template sets every variable the
//! code reads (local-development credentials excepted) and nothing else.

use std::cell::RefCell;
use std::collections::BTreeSet;

use rai_widget_auth::config::{Config, LOCAL_ONLY_VARIABLES, SET_BY_LAMBDA, VARIABLES};

/// The names the code asks for, over both secret modes. Each configuration must be accepted:
/// one refused early would have asked for fewer names.
fn names_the_code_reads() -> BTreeSet<String> {
    let asked = RefCell::new(BTreeSet::new());
    for secret_id in [None, Some("rai/widget")] {
        let config = Config::from_lookup(|name| {
            asked.borrow_mut().insert(name.to_owned());
            match name {
                "RAI_SECRET_ID" => secret_id.map(str::to_owned),
                "SESSION_SECRET" => Some("a-local-session-secret-of-32-bytes-or-more".into()),
                _ => None,
            }
        });
        if let Err(e) = config {
            panic!("secret id {secret_id:?}: the configuration is refused: {e}");
        }
    }
    asked.into_inner()
}

/// The keys under the function's `Environment: Variables:` block.
fn template_variables(template: &str) -> BTreeSet<String> {
    let mut lines = template.lines().skip_while(|l| l.trim() != "Variables:");
    let parent = lines.next().expect("the template has a Variables: block");
    let parent_indent = parent.len() - parent.trim_start().len();
    let mut child_indent = None;
    let mut names = BTreeSet::new();
    for line in lines {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if indent <= parent_indent {
            break;
        }
        if *child_indent.get_or_insert(indent) == indent {
            let key = line.trim_start().split(':').next().unwrap_or_default();
            names.insert(key.to_owned());
        }
    }
    names
}

#[test]
fn the_code_reads_exactly_the_listed_variables() {
    let listed: BTreeSet<String> = VARIABLES.iter().map(|v| v.to_string()).collect();
    assert_eq!(names_the_code_reads(), listed);
}

#[test]
fn the_template_sets_every_variable_the_code_reads_and_no_other() {
    let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml"))
        .expect("template.yaml");
    let deployed: BTreeSet<String> = names_the_code_reads()
        .into_iter()
        .filter(|v| !LOCAL_ONLY_VARIABLES.contains(&v.as_str()))
        .filter(|v| !SET_BY_LAMBDA.contains(&v.as_str()))
        .collect();
    let in_template = template_variables(&template);
    let missing: Vec<_> = deployed.difference(&in_template).collect();
    let unknown: Vec<_> = in_template.difference(&deployed).collect();
    assert!(
        missing.is_empty(),
        "read by the code, missing from template.yaml: {missing:?}"
    );
    assert!(
        unknown.is_empty(),
        "set by template.yaml, never read by the code: {unknown:?}"
    );
}

#[test]
fn the_parser_reads_a_variables_block() {
    let yaml = "Resources:\n  F:\n    Properties:\n      Environment:\n        Variables:\n          A: 1\n          # note\n          B: !Ref X\n            nested: no\n      Other: 2\n";
    let names: Vec<String> = template_variables(yaml).into_iter().collect();
    assert_eq!(names, ["A", "B"]);
}

/// The Lambda Managed Instances variant of the template. SAM refuses an `Fn::If` around
/// `CapacityProviderConfig`, and a function cannot move between the two compute types after its
/// first deploy, so the variant is a second file, generated from template.yaml by this
/// function: the same stack, plus the capacity provider in the customer's VPC and the
/// function's `CapacityProviderConfig`, memory and published alias.
fn managed_instances_variant(template: &str) -> String {
    const HEADER: &str = "# GENERATED from template.yaml by tests/api/template.rs (managed_instances_variant): do not\n# edit; change template.yaml, then run `UPDATE_TEMPLATES=1 cargo test --test api template`.\n# Lambda Managed Instances: the function runs on EC2 capacity that Lambda manages in your VPC,\n# serving up to PerEnvironmentMaxConcurrency invocations at once per execution environment\n# (AWS_LAMBDA_MAX_CONCURRENCY). Choose this template or template.yaml at the first deploy: a\n# function cannot be moved between the two compute types afterwards (delete and redeploy).\n";
    const PARAMETERS: &str = "Parameters:
  CapacityProviderSubnetIds:
    Type: List<AWS::EC2::Subnet::Id>
    Description: >-
      Subnets for the capacity provider's instances. They need outbound HTTPS to Secrets Manager
      (a NAT gateway or a secretsmanager interface endpoint), to the identity provider (when
      SessionJwksUrl, SessionIssuer or SessionUserinfoUrl is set) and to Returning.AI (a NAT
      gateway: Returning.AI has no VPC endpoint).
  CapacityProviderSecurityGroupIds:
    Type: List<AWS::EC2::SecurityGroup::Id>
    Description: >-
      Security groups for the instances: egress on TCP 443 (and DNS) to the endpoints above;
      no ingress is needed (Lambda delivers the invocations).
  PerEnvironmentMaxConcurrency:
    Type: Number
    Default: 16
    MinValue: 1
    Description: >-
      Invocations one execution environment serves at once (AWS_LAMBDA_MAX_CONCURRENCY); the
      function then runs a thread per vCPU and shares its caches between them.
";
    const PROVIDER: &str = "Resources:
  # The EC2 capacity Lambda manages for this function, in the subnets and security groups above.
  CapacityProvider:
    Type: AWS::Serverless::CapacityProvider
    Properties:
      VpcConfig:
        SubnetIds: !Ref CapacityProviderSubnetIds
        SecurityGroupIds: !Ref CapacityProviderSecurityGroupIds
";
    const MEMORY: &str = "      MemorySize: 256\n";
    const MANAGED: &str = r#"      # Managed Instances run published versions (the alias is what the URL and the APIs call) with
      # 2 GB per vCPU and PerEnvironmentMaxConcurrency invocations at once per environment.
      MemorySize: 2048
      AutoPublishAlias: live
      CapacityProviderConfig:
        # The provider's ARN, built from its name (what Ref gives): the cfn-lint in SAM CLI 1.170
        # knows no attributes of AWS::Lambda::CapacityProvider and refuses !GetAtt ... .Arn.
        Arn: !Sub "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:capacity-provider:${CapacityProvider}"
        ExecutionEnvironmentMemoryGiBPerVCpu: 2.0
        PerExecutionEnvironmentMaxConcurrency: !Ref PerEnvironmentMaxConcurrency
"#;
    for anchor in ["\nParameters:\n", "\nResources:\n", MEMORY] {
        assert_eq!(
            template.matches(anchor).count(),
            1,
            "template.yaml must hold {anchor:?} exactly once"
        );
    }
    let body = template
        .replacen("\nParameters:\n", &format!("\n{PARAMETERS}"), 1)
        .replacen("\nResources:\n", &format!("\n{PROVIDER}"), 1)
        .replacen(MEMORY, MANAGED, 1);
    format!("{HEADER}{body}")
}

const MANAGED_INSTANCES_TEMPLATE: &str = "template-managed-instances.yaml";

#[test]
fn the_managed_instances_template_is_template_yaml_plus_the_capacity_provider() {
    let root = env!("CARGO_MANIFEST_DIR");
    let template = std::fs::read_to_string(format!("{root}/template.yaml")).expect("template.yaml");
    let expected = managed_instances_variant(&template);
    let path = format!("{root}/{MANAGED_INSTANCES_TEMPLATE}");
    if std::env::var_os("UPDATE_TEMPLATES").is_some() {
        std::fs::write(&path, &expected).expect("write the variant");
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        actual == expected,
        "{MANAGED_INSTANCES_TEMPLATE} is not template.yaml's variant: run `UPDATE_TEMPLATES=1 cargo test --test api template`"
    );
    // The same function, so the same environment as template.yaml (held to the code above).
    assert_eq!(template_variables(&actual), template_variables(&template));
    for needed in [
        "Type: AWS::Serverless::CapacityProvider",
        "CapacityProviderConfig:",
        ":capacity-provider:${CapacityProvider}",
        "SubnetIds: !Ref CapacityProviderSubnetIds",
        "AutoPublishAlias: live",
    ] {
        assert!(actual.contains(needed), "{needed}");
    }
}
