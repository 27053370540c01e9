#!/usr/bin/env python3
"""Writes template.yaml once per combination of its optional features, for the offline checks.

`sam validate --lint` lints a template with its parameters' defaults, which leave every option
off. Each variant here is template.yaml with other defaults, written as JSON to OUT_DIR/NAME.json,
so the linter sees every optional resource and condition on as well as off. With --transformed,
each variant is also put through the SAM translator (no AWS call) to OUT_DIR/NAME.cfn.json: the
plain CloudFormation that CloudFormation deploys, for scanners that do not read SAM.

Run it with the Python that has aws-sam-cli (cfn-lint and aws-sam-translator come with it).
"""

import json
import os
import sys

from cfnlint.decode import decode

ACCOUNT = "123456789012"
REGION = "us-east-1"

# Values that only have to be well-formed: nothing here is deployed.
VARIANTS = {
    "defaults": {},
    "everything-on": {
        "CommunityId": "community-1",
        "ExistingSecretArn": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:rai/widget-AbCdEf",
        "KmsKeyArn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555",
        "LogsKmsKeyArn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/66666666-7777-8888-9999-000000000000",
        "Tracing": "Active",
        "ReservedConcurrency": "20",
        "CreateApiGatewayAccountRole": "true",
        "JwtAuthorizerIssuer": f"https://cognito-idp.{REGION}.amazonaws.com/{REGION}_AbCdEfGhI",
        "JwtAuthorizerAudience": "client-a,client-b",
        "CustomDomainName": "auth.example.com",
        "CustomDomainCertificateArn": f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/abcd-ef",
        "CustomDomainHostedZoneId": "Z0123456789ABCDEFGHIJ",
        "CorsAllowedOrigins": "https://www.example.com,https://example.com",
        "AlarmEmail": "ops@example.com",
        "MetricsNamespace": "Example/WidgetAuth",
    },
    "userinfo-cookie-existing-topic": {
        "SessionCookie": "_session_id",
        "SessionUserinfoUrl": "https://www.example.com/me",
        "SessionUserinfoPointer": "/user",
        "SessionUserinfoTtlSeconds": "0",
        "CustomDomainName": "auth.example.com",
        "CustomDomainCertificateArn": f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/abcd-ef",
        "AlarmTopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:pager",
        "AlarmEmail": "ops@example.com",
    },
    "authorizer-claims-no-alarms": {
        "SessionFromAuthorizer": "true",
        "CreateAlarms": "false",
        "AlarmEmail": "ops@example.com",
        "AlarmTopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:pager",
    },
    "jwks-session": {
        "SessionJwksUrl": "https://login.example.com/.well-known/jwks.json",
        "SessionIssuer": "https://login.example.com/",
        "SessionAudience": "widgets",
        "AlarmTopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:pager",
    },
}


def variant(template, overrides):
    params = template["Parameters"]
    for name, value in overrides.items():
        if name not in params:
            sys.exit(f"variant names an unknown parameter: {name}")
        params[name]["Default"] = value
    return template


# Resources that SAM generates from a resource of template.yaml, which take its checkov skips:
# the scan of SAM's output then answers each finding with the reason written in template.yaml.
GENERATED_FROM = {
    "WidgetAuthFunctionUrl": "WidgetAuthFunction",
    "RestApiProdStage": "RestApi",
}


def carry_checkov_skips(source, output):
    for generated, origin in GENERATED_FROM.items():
        if generated not in output["Resources"]:
            sys.exit(f"SAM no longer generates {generated}: update GENERATED_FROM")
        skips = source["Resources"][origin].get("Metadata", {}).get("checkov")
        if skips:
            output["Resources"][generated].setdefault("Metadata", {})["checkov"] = skips
    return output


def transform(template):
    from samtranslator.translator.transform import transform as sam_transform

    class NoManagedPolicies:
        # The template names no managed policy by name that SAM does not already know.
        def load(self):
            return {}

    # SAM needs an artifact location, which `sam build`/`sam package` would put in CodeUri.
    for resource in template["Resources"].values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://example-bucket/rai-widget-auth.zip"
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    return sam_transform(template, {}, NoManagedPolicies())


def main():
    args = sys.argv[1:]
    transformed = "--transformed" in args
    args = [a for a in args if a != "--transformed"]
    if len(args) != 2:
        sys.exit("usage: sam-variants.py [--transformed] TEMPLATE OUT_DIR")
    source, out_dir = args
    os.makedirs(out_dir, exist_ok=True)
    for name, overrides in VARIANTS.items():
        template, errors = decode(source)
        if errors:
            sys.exit("\n".join(str(e) for e in errors))
        template = json.loads(json.dumps(template))
        template = variant(template, overrides)
        with open(os.path.join(out_dir, f"{name}.json"), "w") as f:
            json.dump(template, f, indent=1)
        if transformed:
            with open(os.path.join(out_dir, f"{name}.cfn.json"), "w") as f:
                original = json.loads(json.dumps(template))
                json.dump(carry_checkov_skips(original, transform(template)), f, indent=1)
        print(name)


if __name__ == "__main__":
    main()
