// What the screen tests share: a static server for the mock build (with the kiosk's strict
// Content-Security-Policy, so a violation fails a test), Debian's Chromium through
// playwright-core, and screenshots into artifacts/ui-screens/.
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const UI_DIR = resolve(here, '..', '..');
export const MOCK_DIR = join(UI_DIR, 'dist-mock');
export const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR ?? resolve(UI_DIR, '..', 'artifacts', 'ui-screens');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * The Content-Security-Policy of the Tauri config (kiosk-app/shell/tauri.conf.json), so the
 * tests run under the policy the kiosk ships with; a strict default when the file is absent.
 */
function kioskCsp() {
  const config = resolve(UI_DIR, '..', 'kiosk-app', 'shell', 'tauri.conf.json');
  const fallback = {
    'default-src': "'self'",
    'script-src': "'self'",
    'style-src': "'self'",
    'img-src': "'self' data:",
    'font-src': "'self'",
    'object-src': "'none'",
    'base-uri': "'none'",
    'form-action': "'none'",
    'frame-ancestors': "'none'",
  };
  let csp = fallback;
  if (existsSync(config)) {
    const value = JSON.parse(readFileSync(config, 'utf8'))?.app?.security?.csp;
    if (value && typeof value === 'object') csp = value;
    else if (typeof value === 'string') return value;
  }
  // Served as a header (as Tauri does), so every directive applies, frame-ancestors included.
  return Object.entries(csp)
    .map(([directive, sources]) => `${directive} ${Array.isArray(sources) ? sources.join(' ') : sources}`)
    .join('; ');
}

export const CSP = kioskCsp();

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
};

/** Fails with what to do when a prerequisite is missing (never a silent skip). */
export function checkPrerequisites() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM}. The screen tests drive Debian's Chromium: ` +
        'install it with `apt-get install chromium` (packaging/debian-packages.txt, group "browser"), ' +
        'or set CHROMIUM_PATH. Browsers are never downloaded by npm here.',
    );
  }
  if (!existsSync(join(MOCK_DIR, 'index.html'))) {
    throw new Error(`No mock build in ${MOCK_DIR}: run \`npm run build:mock\` first (npm run test:screens does).`);
  }
}

/** Serves dist-mock on a free loopback port; resolves to its base URL and a stop function. */
export async function serveMockBuild() {
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    let path = normalize(decodeURIComponent(url.pathname)).replace(/^(\.\.[/\\])+/, '');
    if (path === '/' || path === '') path = '/index.html';
    const file = join(MOCK_DIR, path);
    if (!file.startsWith(MOCK_DIR) || !existsSync(file) || !statSync(file).isFile()) {
      response.writeHead(404, { 'Content-Type': 'text/plain' });
      response.end('not found');
      return;
    }
    response.writeHead(200, {
      'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
      'Content-Security-Policy': CSP,
      'Cache-Control': 'no-store',
    });
    response.end(readFileSync(file));
  });
  await new Promise((done) => server.listen(0, '127.0.0.1', () => done(undefined)));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  return {
    url: `http://127.0.0.1:${address.port}/`,
    stop: () => new Promise((done) => server.close(() => done(undefined))),
  };
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--autoplay-policy=no-user-gesture-required'],
  });
}

/**
 * A fresh page at 1280x800 on the mock build; every console error, page error and CSP report
 * lands in `problems` (tests assert it stays empty).
 */
export async function openKiosk(browser, baseUrl, query = '') {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1, locale: 'en-GB', timezoneId: 'Europe/Paris' });
  // Tauri's freezePrototype: a page that writes to Object.prototype breaks there, so here too.
  await context.addInitScript(() => Object.freeze(Object.prototype));
  // Playwright's keys reach a loaded CI machine slower than a scanner types: widen the wedge's
  // gap rule for these tests only, as the e2e does (the rule has its own unit test).
  await context.addInitScript(() => window.sessionStorage.setItem('gatepass.wedgeMaxGapMs', '250'));
  const page = await context.newPage();
  /** @type {string[]} */
  const problems = [];
  page.on('console', (message) => {
    if (message.type() === 'error' || /Content[- ]Security[- ]Policy/i.test(message.text())) {
      problems.push(`console: ${message.text()}`);
    }
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  await page.goto(`${baseUrl}${query ? `?${query}` : ''}`);
  return { context, page, problems };
}

let shots = 0;

/** Saves a screenshot as artifacts/ui-screens/<name>.png. */
export async function screenshot(page, name) {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  shots += 1;
  // Let the verdict's short entrance animation finish.
  await page.waitForTimeout(250);
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`) });
}

export function screenshotCount() {
  return shots;
}
