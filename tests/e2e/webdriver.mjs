// A small W3C WebDriver client over fetch, for driving the kiosk window through tauri-driver
// (which forwards to WebKitWebDriver). Every call has its own time bound: a session that hangs
// (no display, a stale driver) fails the test instead of stopping it.

const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';

/** WebDriver's key codes for the keys the tests press. */
export const KEY = { enter: '\uE007', escape: '\uE00C' };

export class WebDriver {
  /** @param {string} url the driver's base URL, e.g. http://127.0.0.1:4444 */
  constructor(url) {
    this.url = url.replace(/\/$/, '');
    /** @type {string | null} */
    this.session = null;
  }

  async call(method, path, body, timeoutMs = 30_000) {
    const response = await fetch(`${this.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    let payload;
    try {
      payload = JSON.parse(text);
    } catch {
      throw new Error(`${method} ${path}: HTTP ${response.status}: ${text.slice(0, 300)}`);
    }
    if (!response.ok || payload?.value?.error) {
      const v = payload?.value ?? {};
      const error = new Error(`${method} ${path}: ${v.error ?? response.status}: ${v.message ?? text.slice(0, 300)}`);
      error.code = v.error;
      throw error;
    }
    return payload.value;
  }

  /** Waits until the driver answers /status. */
  async ready(timeoutMs = 30_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this.call('GET', '/status', undefined, 2000);
        return;
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`the WebDriver at ${this.url} never answered: ${error.message}`);
        await sleep(200);
      }
    }
  }

  /** Starts the app at `application` (an absolute path) in a new session. */
  async start(application) {
    const value = await this.call(
      'POST',
      '/session',
      { capabilities: { alwaysMatch: { 'tauri:options': { application } } } },
      60_000,
    );
    this.session = value.sessionId;
  }

  async quit() {
    if (!this.session) return;
    const session = this.session;
    this.session = null;
    await this.call('DELETE', `/session/${session}`, undefined, 15_000).catch(() => {});
  }

  s(path) {
    if (!this.session) throw new Error('no WebDriver session');
    return `/session/${this.session}${path}`;
  }

  /** The element matching `selector` (css, or xpath when it starts with "/"), or null. */
  async find(selector) {
    const using = selector.startsWith('/') ? 'xpath' : 'css selector';
    try {
      const value = await this.call('POST', this.s('/element'), { using, value: selector });
      return value[ELEMENT];
    } catch (error) {
      // An element removed while the driver builds its handle (a verdict going back to
      // "ready") reads as stale: it is gone, the same as not found.
      if (error.code === 'no such element' || error.code === 'stale element reference') return null;
      throw error;
    }
  }

  /** Waits for an element matching `selector` and returns it. */
  async waitFor(selector, timeoutMs = 15_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const element = await this.find(selector);
      if (element) return element;
      if (Date.now() > deadline) throw new Error(`nothing matched ${selector} within ${timeoutMs} ms`);
      await sleep(100);
    }
  }

  /** Waits until `selector` matches nothing. */
  async waitGone(selector, timeoutMs = 15_000) {
    const deadline = Date.now() + timeoutMs;
    while (await this.find(selector)) {
      if (Date.now() > deadline) throw new Error(`${selector} still there after ${timeoutMs} ms`);
      await sleep(100);
    }
  }

  /** Waits until the text of `selector` matches `pattern`; returns the text. */
  async waitForText(selector, pattern, timeoutMs = 15_000) {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      const element = await this.find(selector);
      if (element) {
        last = await this.text(element).catch(() => '');
        if (pattern.test(last)) return last;
      }
      if (Date.now() > deadline) throw new Error(`${selector} never read ${pattern} within ${timeoutMs} ms (last: ${JSON.stringify(last)})`);
      await sleep(150);
    }
  }

  async text(element) {
    return this.call('GET', this.s(`/element/${element}/text`));
  }

  async click(selector) {
    const element = await this.waitFor(selector);
    await this.call('POST', this.s(`/element/${element}/click`), {});
  }

  /** Clears the field `selector` and types `text` into it. */
  async fill(selector, text) {
    const element = await this.waitFor(selector);
    await this.call('POST', this.s(`/element/${element}/clear`), {});
    await this.call('POST', this.s(`/element/${element}/value`), { text });
  }

  /** Keys to whatever has focus, scanner-fast (a keyboard-wedge scanner types like this). */
  async keys(text) {
    const actions = [];
    for (const key of text) actions.push({ type: 'keyDown', value: key }, { type: 'keyUp', value: key });
    await this.call('POST', this.s('/actions'), { actions: [{ type: 'key', id: 'scanner', actions }] });
    await this.call('DELETE', this.s('/actions'));
  }

  async execute(script, args = []) {
    return this.call('POST', this.s('/execute/sync'), { script, args });
  }

  /** A PNG of the window, as a Buffer. */
  async screenshot() {
    return Buffer.from(await this.call('GET', this.s('/screenshot')), 'base64');
  }
}

export function sleep(ms) {
  return new Promise((done) => setTimeout(done, ms));
}

/** An XPath for a button whose text contains `text`. */
export function button(text) {
  return `//button[contains(normalize-space(.), ${xpathString(text)})]`;
}

/** An XPath for any element whose own text contains `text`. */
export function withText(text) {
  return `//*[contains(normalize-space(text()), ${xpathString(text)})]`;
}

function xpathString(text) {
  if (!text.includes("'")) return `'${text}'`;
  if (!text.includes('"')) return `"${text}"`;
  return `concat('${text.split("'").join(`', "'", '`)}')`;
}
