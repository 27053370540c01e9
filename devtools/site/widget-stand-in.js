// A stand-in for the Returning.AI widget SDK, for the local demo only: it does what the SDK's
// docs say about `auth-url` (a POST, on the page's own origin) and nothing else. The real SDK
// renders the widget; this shows what the endpoint answered.
customElements.define('rai-channel-widget', class extends HTMLElement {
  connectedCallback() {
    this.load();
  }

  async load() {
    const url = this.getAttribute('auth-url');
    this.dataset.state = 'loading';
    this.textContent = `Asking ${url} for a widget token...`;
    let response;
    let body = {};
    try {
      // Default credentials ('same-origin'): the site's cookies go along because auth-url is on
      // this origin.
      response = await fetch(url, { method: 'POST' });
      body = await response.json().catch(() => ({}));
    } catch (error) {
      this.dataset.state = 'refused';
      this.textContent = `No answer from ${url}: ${error}`;
      return;
    }
    if (response.ok && body.token) {
      // Kept on the element (the real SDK keeps it too); shown only by its length.
      this.token = body.token;
      this.dataset.state = 'signed-in';
      this.textContent = `Signed in: ${url} answered ${response.status} with a widget token ` +
        `(${body.token.length} characters, expires in ${body.expiresIn} s).`;
      const refreshIn = Math.max(10, (body.expiresIn || 300) - 30) * 1000;
      clearTimeout(this.refresh);
      this.refresh = setTimeout(() => this.load(), refreshIn);
    } else {
      this.token = undefined;
      this.dataset.state = 'refused';
      const retry = response.headers.get('retry-after');
      this.textContent = `${url} answered ${response.status} ${body.error || ''}: ${body.message || ''}` +
        (retry ? ` (Retry-After: ${retry} s)` : '') +
        (response.status === 401 ? ' Sign in with a link above.' : '');
    }
  }
});
