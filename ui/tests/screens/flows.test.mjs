// Screen tests: the BUILT front end (dist-mock: the app plus the fake kiosk of src/mock/) in
// headless Chromium at 1280x800, served with the kiosk's strict CSP. They follow what people do
// at a venue and save a screenshot of every screen and verdict in artifacts/ui-screens/.
//
// Run with `npm run test:screens` (it builds dist-mock first).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { checkPrerequisites, launchBrowser, openKiosk, screenshot, serveMockBuild } from './harness.mjs';

/** @type {import('playwright-core').Browser} */
let browser;
/** @type {{ url: string, stop: () => Promise<unknown> }} */
let server;

// A missing Chromium or mock build fails here, with what to do (the other tests then cancel).
it('has Debian Chromium and the mock build', () => checkPrerequisites());

before(async () => {
  checkPrerequisites();
  server = await serveMockBuild();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** @param {import('playwright-core').Page} page */
const verdict = (page) => page.locator('.verdict');

/** Types like a USB scanner: fast keys, then Enter, with focus outside any text field. */
async function wedgeScan(page, code) {
  await page.evaluate(() => /** @type {HTMLElement | null} */ (document.activeElement)?.blur());
  await page.keyboard.type(code);
  await page.keyboard.press('Enter');
}

async function waitForVerdict(page, code) {
  await page.locator(`.verdict[data-verdict="${code}"]`).waitFor({ state: 'visible', timeout: 5000 });
}

async function fakeCalls(page, cmd) {
  return page.evaluate((name) => (window.__fake?.calls ?? []).filter((c) => c.cmd === name).map((c) => c.args), cmd);
}

async function count(page, which) {
  return (await page.locator(`[data-count="${which}"]`).first().innerText()).split('/')[0].trim();
}

function assertNoProblems(problems) {
  assert.deepEqual(problems, [], `the page reported problems:\n${problems.join('\n')}`);
}

describe('first run to the gate, a walk-in, the coordinator and French', () => {
  /** @type {import('playwright-core').Page} */
  let page;
  /** @type {string[]} */
  let problems;

  before(async () => {
    ({ page, problems } = await openKiosk(browser, server.url));
  });

  after(() => assertNoProblems(problems));

  it('sets up both PINs, with errors at the field', async () => {
    await page.getByRole('heading', { name: 'Set up this kiosk' }).waitFor();
    await screenshot(page, '01-setup');
    // A four-digit kiosk PIN is refused: it would not hold against a search of a stolen disk.
    await page.locator('#setup-pin').fill('2468');
    await page.locator('#setup-pinAgain').fill('2468');
    await page.locator('#setup-coordinatorPin').fill('1357');
    await page.locator('#setup-coordinatorPinAgain').fill('1357');
    await page.getByRole('button', { name: 'Set up the kiosk' }).click();
    await page.getByText('A kiosk PIN has 8 to 64 characters', { exact: false }).waitFor();
    await page.locator('#setup-pin').fill('24682468');
    await page.locator('#setup-pinAgain').fill('2469');
    await page.locator('#setup-coordinatorPin').fill('24682468');
    await page.locator('#setup-coordinatorPinAgain').fill('24682468');
    await page.getByRole('button', { name: 'Set up the kiosk' }).click();
    await page.getByText('The two PINs are not the same.').waitFor();
    await page.getByText('The coordinator PIN must differ from the kiosk PIN.').waitFor();
    await screenshot(page, '02-setup-errors');
    await page.locator('#setup-pinAgain').fill('24682468');
    await page.locator('#setup-coordinatorPin').fill('1357');
    await page.locator('#setup-coordinatorPinAgain').fill('1357');
    await page.getByRole('button', { name: 'Set up the kiosk' }).click();
    await page.getByRole('heading', { name: 'Connect to the event server' }).waitFor();
  });

  it('enrols: an offline server is said plainly, then it works', async () => {
    await page.locator('#enrol-invite').fill('GATEPASS-ENROL:https://offline.example.org#t0k3n');
    await page.locator('#enrol-label').fill('North gate');
    await screenshot(page, '03-enrol');
    await page.getByRole('button', { name: 'Connect' }).click();
    await page.getByText('The server cannot be reached. Check the network and try again.').waitFor();
    await screenshot(page, '04-enrol-offline');
    await page.locator('#enrol-invite').fill('GATEPASS-ENROL:https://gatepass.example.org#t0k3n');
    await page.getByRole('button', { name: 'Connect' }).click();
    await page.getByRole('heading', { name: 'Load the event package' }).waitFor();
    const [enrol] = (await fakeCalls(page, 'enrol')).slice(-1);
    assert.deepEqual(enrol, { invite: 'GATEPASS-ENROL:https://gatepass.example.org#t0k3n', label: 'North gate' });
  });

  it('fetches the package with a progress indicator, then picks the gate', async () => {
    await screenshot(page, '05-package');
    await page.getByRole('button', { name: 'Fetch from the server' }).click();
    await page.getByText('Fetching the package…').waitFor();
    await screenshot(page, '06-package-fetching');
    await page.getByText('Package version 3 loaded: 1,000 tickets.').waitFor();
    await screenshot(page, '07-package-done');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: "Pick this kiosk's gate" }).waitFor();
    await screenshot(page, '08-gate-picker');
    await page.getByRole('button', { name: /Main entrance/ }).click();
    await page.getByText('Ready: scan a badge').waitFor();
    await page.locator('.camera-image').waitFor();
    await screenshot(page, '09-gate');
  });

  it('admits a badge scanned with a keyboard wedge, then says it is already used', async () => {
    await wedgeScan(page, 'DEMO-0001');
    await waitForVerdict(page, 'admitted');
    assert.match(await verdict(page).innerText(), /WELCOME[\s\S]*Grace Hopper[\s\S]*General admission/);
    await screenshot(page, '10-verdict-admitted');
    const scans = await fakeCalls(page, 'scan_code');
    assert.deepEqual(scans.at(-1), { code: 'DEMO-0001', source: 'wedge' });

    // The next scan is never blocked: it replaces the verdict at once.
    await wedgeScan(page, 'DEMO-0001');
    await waitForVerdict(page, 'already_used');
    const text = await verdict(page).innerText();
    assert.match(text, /ALREADY USED/);
    assert.match(text, /Do not admit/);
    assert.match(text, /Already admitted at Main entrance at \d\d:\d\d, with no exit since\./);
    await screenshot(page, '11-verdict-already-used');

    // A person's Enter dismisses it; the counts moved.
    await page.keyboard.press('Enter');
    await verdict(page).waitFor({ state: 'detached' });
    assert.equal(await count(page, 'gate-entries'), '1');
    assert.equal(await count(page, 'event-admitted'), '1');
  });

  it('registers a walk-in: a validation error at the field, the engine’s error, then the badge', async () => {
    await page.getByRole('button', { name: 'Walk-in', exact: true }).click();
    await page.getByRole('heading', { name: 'About the person' }).waitFor();
    await screenshot(page, '12-walk-in-person');
    await page.getByRole('button', { name: 'Next' }).click();
    await page.locator('[data-field="person-first_name"] .field-error').waitFor();
    // First name, last name and ticket type (two types: none is picked for the desk).
    assert.equal(await page.locator('.field-error').count(), 3);
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'field-person-first_name');
    await screenshot(page, '13-walk-in-required');

    await page.getByLabel('First name').fill('Marie');
    await page.getByLabel('Last name').fill('Curie');
    await page.getByLabel('Email').fill('taken@example.org');
    await page.getByLabel('VIP').check();
    await page.getByRole('button', { name: 'Next' }).click();

    await page.getByRole('heading', { name: 'About you' }).waitFor();
    assert.equal(await page.getByLabel('Your role').count(), 0, 'role_other is hidden until "Other"');
    await page.getByLabel('Other').check();
    await page.getByLabel('Your role').fill('Physicist');
    await page.getByLabel('Country').selectOption('PL');
    await page.getByLabel('Member number').fill('mc1867');
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByText('Two letters, a dash and four digits, e.g. AB-1234').waitFor();
    await screenshot(page, '14-walk-in-validation');
    await page.getByLabel('Member number').fill('MC-1867');
    await page.getByRole('button', { name: 'Next' }).click();

    await page.getByRole('heading', { name: 'At the event' }).first().waitFor();
    await page.getByLabel('Workshops attended').fill('2.5');
    await page.getByLabel('I agree to be photographed').check();
    await page.getByRole('button', { name: 'Register and make the badge' }).click();
    await page.getByText('Enter a whole number.').waitFor();
    await page.getByLabel('Workshops attended').fill('2');
    await page.getByLabel('Send me the newsletter').check();
    await page.getByLabel('Newsletter address').fill('marie@example.org');
    await screenshot(page, '15-walk-in-last-page');
    await page.getByRole('button', { name: 'Register and make the badge' }).click();

    // The engine refuses the email: back to the first page, the error at the field.
    await page.getByText('This address is already registered: check the attendee list.').waitFor();
    await page.getByRole('heading', { name: 'About the person' }).waitFor();
    await screenshot(page, '16-walk-in-server-error');
    await page.getByLabel('Email').fill('marie.curie@example.org');
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByRole('button', { name: 'Register and make the badge' }).click();

    await page.locator('.badge-card').waitFor();
    const badge = await page.locator('.badge-card').innerText();
    assert.match(badge, /Marie Curie/);
    assert.match(badge, /VIP/);
    assert.match(badge, /RustConf Europe 2025/i);
    assert.match(await page.locator('.badge-qr').getAttribute('src') ?? '', /^data:image\/svg\+xml/);
    await screenshot(page, '17-badge');
    // Printing shows the badge card alone.
    await page.emulateMedia({ media: 'print' });
    assert.equal(await page.locator('.topbar').evaluate((el) => getComputedStyle(el).visibility), 'hidden');
    assert.equal(await page.locator('.badge-card').evaluate((el) => getComputedStyle(el).visibility), 'visible');
    assert.equal(await page.getByRole('button', { name: 'Print the badge' }).isVisible(), false);
    await screenshot(page, '17b-badge-print');
    await page.emulateMedia({ media: 'screen' });

    const [request] = (await fakeCalls(page, 'register_walk_in')).slice(-1);
    assert.deepEqual(request, {
      request: {
        first_name: 'Marie',
        last_name: 'Curie',
        email: 'marie.curie@example.org',
        ticket_type_id: 'tt-vip',
        answers: {
          role: 'other',
          role_other: 'Physicist',
          country: 'PL',
          member_no: 'MC-1867',
          workshops: 2,
          newsletter: true,
          newsletter_email: 'marie@example.org',
          photo_consent: true,
        },
      },
    });

    await page.getByRole('button', { name: 'Next walk-in' }).click();
    assert.equal(await page.getByLabel('First name').inputValue(), '');
  });

  it('opens the coordinator screen with the right PIN only, and syncs with progress', async () => {
    await page.getByRole('button', { name: 'Coordinator', exact: true }).click();
    await page.getByRole('heading', { name: 'Coordinator PIN' }).waitFor();
    await screenshot(page, '18-coordinator-pin');
    await page.getByLabel('Coordinator PIN').fill('0000');
    await page.getByRole('button', { name: 'Open' }).click();
    await page.getByText('Wrong PIN. Try again.').waitFor();
    await screenshot(page, '19-coordinator-wrong-pin');
    await page.getByLabel('Coordinator PIN').fill('1357');
    await page.getByRole('button', { name: 'Open' }).click();
    await page.getByRole('button', { name: 'Sync now' }).waitFor();
    assert.notEqual(await count(page, 'pending'), '0');
    await screenshot(page, '20-coordinator');

    await page.evaluate(() => {
      if (window.__fake) window.__fake.stepMs = 400;
    });
    await page.getByRole('button', { name: 'Sync now' }).click();
    await page.getByText(/Sending changes: \d+ of \d+/).waitFor();
    await page.locator('progress[value]').waitFor();
    await screenshot(page, '21-coordinator-syncing');
    await page.getByText('Sync finished.').waitFor({ timeout: 10000 });
    assert.equal(await count(page, 'pending'), '0');
    await screenshot(page, '22-coordinator-synced');
  });

  it('reprints a lost badge from the coordinator screen, logged as a reprint', async () => {
    const printed = (await fakeCalls(page, 'print_badge')).length;
    const panel = page.getByRole('region', { name: 'Reprint a badge' });
    await panel.getByRole('searchbox', { name: 'Find the guest' }).fill('DEMO-0002');
    const reprint = panel.getByRole('button', { name: /^Reprint the badge of / });
    await reprint.first().waitFor();
    await reprint.first().click();
    await panel.getByText(/printed again\./).waitFor();
    await panel.getByText('Badge sent to the printer').waitFor();
    const [call] = (await fakeCalls(page, 'reprint_badge')).slice(-1);
    assert.match(String(call.ticketId), /^ticket-/);
    assert.equal((await fakeCalls(page, 'print_badge')).length, printed + 1);
    // The reprint is an outbox row waiting for the next sync.
    assert.equal(await count(page, 'pending'), '1');
    await screenshot(page, '22b-coordinator-reprint');
  });

  it('switches the language to French at once', async () => {
    await page.getByRole('button', { name: 'Settings', exact: true }).click();
    await page.getByRole('heading', { name: 'Settings' }).waitFor();
    await screenshot(page, '23-settings');
    await page.getByLabel('Français').check();
    await page.getByRole('heading', { name: 'Réglages' }).waitFor();
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'fr');
    await screenshot(page, '24-settings-fr');
    await page.getByRole('button', { name: 'Porte', exact: true }).click();
    await page.getByText('Prêt : scannez un badge').waitFor();
    await wedgeScan(page, 'DEMO-0002');
    await waitForVerdict(page, 'admitted');
    assert.match(await verdict(page).innerText(), /BIENVENUE/);
    await screenshot(page, '25-verdict-admitted-fr');
    await page.keyboard.press('Enter');
    await wedgeScan(page, 'DEMO-0002');
    await waitForVerdict(page, 'already_used');
    assert.match(await verdict(page).innerText(), /DÉJÀ UTILISÉ[\s\S]*Ce billet a déjà été utilisé\.[\s\S]*Première admission à .*Main entrance/);
    await screenshot(page, '26-verdict-already-used-fr');
  });
});

describe('the gate, verdict by verdict', () => {
  it('shows every family of verdict, the camera path, undo and auto-dismiss', async () => {
    const { page, problems, context } = await openKiosk(browser, server.url, 'scenario=ready&gate=gate-vip');
    await page.getByText('Ready: scan a badge').waitFor();

    await wedgeScan(page, 'DEMO-0001');
    await waitForVerdict(page, 'wrong_gate');
    assert.match(await verdict(page).innerText(), /WRONG GATE/);
    await screenshot(page, '30-verdict-wrong-gate');

    await wedgeScan(page, 'NOPE-1234');
    await waitForVerdict(page, 'unknown');
    await screenshot(page, '31-verdict-unknown');

    await wedgeScan(page, 'DEMO-0013');
    await waitForVerdict(page, 'canceled');
    await screenshot(page, '32-verdict-canceled');

    await wedgeScan(page, 'DEMO-0990');
    await waitForVerdict(page, 'needs_answers');
    assert.match(await verdict(page).innerText(), /ANSWERS NEEDED[\s\S]*Ask these questions, then admit\.[\s\S]*I agree to be photographed/);
    await screenshot(page, '33-verdict-needs-answers');

    await wedgeScan(page, 'FAKE-0001');
    await waitForVerdict(page, 'bad_signature');
    await screenshot(page, '34-verdict-bad-signature');

    // A verdict from the camera (the `scan` event), then undo while it shows.
    await page.evaluate(() => window.__fake?.cameraScan('DEMO-0020'));
    await waitForVerdict(page, 'admitted');
    await screenshot(page, '35-verdict-admitted-camera');
    assert.equal(await count(page, 'gate-entries'), '1');
    await page.getByRole('button', { name: 'Undo this admission' }).click();
    await page.getByText('The admission was undone.').waitFor();
    assert.equal(await count(page, 'gate-entries'), '0');

    // A typed code (slow keys) goes in as "typed"; the verdict leaves by itself.
    await page.locator('#gate-code').pressSequentially('DEMO-0030', { delay: 90 });
    await page.locator('#gate-code').press('Enter');
    await waitForVerdict(page, 'admitted');
    const scans = await page.evaluate(() => window.__fake?.calls.filter((c) => c.cmd === 'scan_code').map((c) => c.args));
    assert.deepEqual(scans?.at(-1), { code: 'DEMO-0030', source: 'typed' });
    await verdict(page).waitFor({ state: 'detached', timeout: 4000 });
    await page.getByRole('button', { name: /Undo last admission/ }).waitFor();
    await screenshot(page, '36-gate-after-admission');

    assertNoProblems(problems);
    await context.close();
  });

  it('records exits where the gate scans both ways', async () => {
    const { page, problems, context } = await openKiosk(browser, server.url, 'scenario=ready');
    await page.getByText('Ready: scan a badge').waitFor();
    await wedgeScan(page, 'DEMO-0005');
    await waitForVerdict(page, 'admitted');
    await page.keyboard.press('Escape');
    assert.equal(await count(page, 'event-inside'), '1');
    assert.equal(await page.locator('[data-count="own-gate-entries"]').innerText(), '1 by this kiosk');
    assert.match(await page.locator('[data-count="as-of"]').innerText(), /Other kiosks' scans counted as of the last sync, (.*, )?\d\d?:\d\d/);
    await page.getByRole('button', { name: 'Exit', exact: true }).click();
    await page.getByText('Ready: scan badges of people leaving').waitFor();
    await wedgeScan(page, 'DEMO-0005');
    await waitForVerdict(page, 'admitted');
    assert.match(await verdict(page).innerText(), /EXIT RECORDED/);
    await screenshot(page, '37-verdict-exit');
    await page.keyboard.press('Escape');
    await verdict(page).waitFor({ state: 'detached' });
    assert.equal(await count(page, 'gate-exits'), '1');
    assert.equal(await count(page, 'event-inside'), '0', 'entries minus exits');
    assertNoProblems(problems);
    await context.close();
  });

  it('sends badges straight to the printer picked in the settings, and says when one does not print', async () => {
    const { page, problems, context } = await openKiosk(browser, server.url, 'scenario=ready&gate=gate-vip');
    await page.getByText('Ready: scan a badge').waitFor();
    await page.getByRole('button', { name: 'Settings', exact: true }).click();
    const printer = page.getByLabel('Badge printer');
    await printer.locator('option', { hasText: 'Zebra_ZD421' }).waitFor({ state: 'attached' });
    assert.deepEqual(await printer.locator('option').allInnerTexts(), [
      'Ask each time (print dialog)',
      'Zebra_ZD421',
      'Unplugged_Printer',
      "PDF files in the kiosk's data folder (no paper)",
    ]);
    await printer.selectOption('Unplugged_Printer');
    await page.getByText('Saved.').waitFor();
    assert.equal((await fakeCalls(page, 'save_settings')).at(-1).settings.badge_printer, 'Unplugged_Printer');
    await printer.scrollIntoViewIfNeeded();
    await screenshot(page, '23b-settings-badge-printer');

    // The VIP lounge prints first badges: this one goes to a printer that is gone.
    await page.getByRole('button', { name: 'Gate', exact: true }).click();
    await page.getByText('Ready: scan a badge').waitFor();
    await wedgeScan(page, 'DEMO-0020');
    await waitForVerdict(page, 'admitted');
    await verdict(page)
      .getByText('The badge did not print (Unplugged_Printer: Printer not found). A coordinator can print it again.')
      .waitFor();
    await screenshot(page, '37d-verdict-badge-not-printed');
    assertNoProblems(problems);
    await context.close();
  });

  it("counts today's admissions apart from earlier days", async () => {
    const { page, problems, context } = await openKiosk(browser, server.url, 'scenario=ready&yesterday=3');
    await page.getByText('Ready: scan a badge').waitFor();
    await wedgeScan(page, 'DEMO-0007');
    await waitForVerdict(page, 'admitted');
    await page.keyboard.press('Escape');
    await verdict(page).waitFor({ state: 'detached' });
    assert.equal(await count(page, 'gate-entries'), '1', 'entries today at this gate');
    assert.equal(await page.locator('[data-count="own-gate-entries"]').innerText(), '1 by this kiosk');
    assert.equal(await page.locator('[data-count="gate-entries-all-days"]').innerText(), '4 on all days');
    assert.equal(await count(page, 'event-admitted'), '1', 'admitted today, whole event');
    assert.equal(
      await page.locator('[data-count="event-admitted-all-days"]').innerText(),
      '4 of 1,000 tickets on all days',
    );
    await screenshot(page, '38b-gate-counts-second-day');
    assertNoProblems(problems);
    await context.close();
  });

  it('finds a guest without a badge by name and admits them from the list', async () => {
    const { page, problems, context } = await openKiosk(browser, server.url, 'scenario=ready');
    await page.getByText('Ready: scan a badge').waitFor();
    await page.locator('#guest-search').fill('grace hop');
    await page.getByText('The best 6 of 112: type more to narrow down.').waitFor();
    const first = page.locator('.guest-row').first();
    assert.match(await first.innerText(), /Grace Hopper[\s\S]*General admission[\s\S]*Not in yet/);
    await screenshot(page, '39-gate-guest-search');

    await first.getByRole('button', { name: 'Admit Grace Hopper' }).click();
    await waitForVerdict(page, 'admitted');
    assert.deepEqual((await fakeCalls(page, 'admit_found')).at(-1), { ticketId: 'ticket-1' });
    assert.equal(await page.locator('#guest-search').inputValue(), '', 'the box is cleared for the next guest');
    await page.keyboard.press('Escape');
    await verdict(page).waitFor({ state: 'detached' });
    assert.equal(await count(page, 'gate-entries'), '1');

    // Found again: the list says they came in, and a second admission is refused as a scan's would be.
    await page.locator('#guest-search').fill('grace');
    await page.getByText(/Came in at/).first().waitFor();
    await page.locator('.guest-row').first().getByRole('button', { name: 'Admit Grace Hopper' }).click();
    await waitForVerdict(page, 'already_used');
    await page.keyboard.press('Escape');

    // Nobody: said so.
    await page.locator('#guest-search').fill('zzz nobody');
    await page.getByText('Nobody found.').waitFor();
    assertNoProblems(problems);
    await context.close();
  });

  it("asks the gate's questions, checks the answers, keeps them and admits", async () => {
    const { page, problems, context } = await openKiosk(browser, server.url, 'scenario=ready&gate=gate-vip');
    await page.getByText('Ready: scan a badge').waitFor();
    await wedgeScan(page, 'DEMO-0990');
    await waitForVerdict(page, 'needs_answers');
    const questions = page.getByRole('form', { name: 'Questions for this gate' });
    const consent = questions.getByLabel(/I agree to be photographed/);
    await consent.waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'field-photo_consent', 'the first question has the focus');

    // It stays while the volunteer asks: no countdown, a tap beside the form does not close it.
    await page.waitForTimeout(3500);
    await verdict(page).click({ position: { x: 20, y: 20 } });
    await questions.waitFor();

    // Not ticked: said at the question, nothing sent.
    await questions.getByRole('button', { name: 'Answer and admit' }).click();
    await questions.getByText('This must be accepted.').waitFor();
    assert.equal((await fakeCalls(page, 'answer_questions')).length, 0);
    await screenshot(page, '37b-gate-questions');

    await consent.check();
    await questions.getByRole('button', { name: 'Answer and admit' }).click();
    await waitForVerdict(page, 'admitted');
    // The VIP lounge shows the guest's diet.
    assert.match(await verdict(page).innerText(), /Diet\s*Vegetarian/);
    // The VIP lounge prints first badges: this admission sends the guest's badge to the printer.
    await verdict(page).getByText('Badge sent to the printer').waitFor();
    assert.equal((await fakeCalls(page, 'print_badge')).length, 1);
    await screenshot(page, '37c-verdict-admitted-after-questions');
    assert.deepEqual((await fakeCalls(page, 'answer_questions')).at(-1), {
      ticketId: 'ticket-990',
      answers: { photo_consent: true },
      source: 'wedge',
    });
    assert.equal(await count(page, 'gate-entries'), '1');
    await page.keyboard.press('Escape');

    // Cancelled questions admit nobody.
    await wedgeScan(page, 'DEMO-0980');
    await waitForVerdict(page, 'needs_answers');
    await questions.getByRole('button', { name: 'Cancel: do not admit' }).click();
    await verdict(page).waitFor({ state: 'detached' });
    assert.equal(await count(page, 'gate-entries'), '1');
    assertNoProblems(problems);
    await context.close();
  });

  it('says plainly when there is no camera', async () => {
    const { page, problems, context } = await openKiosk(browser, server.url, 'scenario=ready&camera=none');
    await page.getByText('No camera: scan with a USB scanner or type the code').waitFor();
    await screenshot(page, '38-gate-no-camera');
    await wedgeScan(page, 'DEMO-0007');
    await waitForVerdict(page, 'admitted');
    assertNoProblems(problems);
    await context.close();
  });
});

describe('locking, offline and high contrast', () => {
  it('keeps a half-typed walk-in across a lock, and refuses a wrong PIN', async () => {
    const { page, problems, context } = await openKiosk(browser, server.url, 'scenario=ready');
    await page.getByRole('button', { name: 'Walk-in', exact: true }).click();
    await page.getByLabel('First name').fill('Draft');
    await page.getByRole('button', { name: 'Coordinator', exact: true }).click();
    await page.getByLabel('Coordinator PIN').fill('1357');
    await page.getByRole('button', { name: 'Open' }).click();
    await page.getByRole('button', { name: 'Enter kiosk mode' }).click();
    await page.getByText('Kiosk mode is on', { exact: false }).waitFor();
    await page.getByRole('button', { name: 'Leave kiosk mode' }).click();
    await page.getByText('Kiosk mode is off.').waitFor();
    const modes = await page.evaluate(() => window.__fake?.calls.filter((c) => c.cmd === 'set_kiosk_mode').map((c) => c.args));
    assert.deepEqual(modes, [{ on: true }, { on: false, pin: '1357' }]);
    await page.getByRole('button', { name: 'Lock the kiosk' }).click();
    await page.getByRole('heading', { name: 'Kiosk locked' }).waitFor();
    await screenshot(page, '40-unlock');
    await page.getByLabel('Kiosk PIN').fill('1111');
    await page.getByRole('button', { name: 'Unlock' }).click();
    await page.getByText('Wrong PIN. Try again.').waitFor();
    await screenshot(page, '41-unlock-wrong-pin');
    for (const digit of '24682468') await page.getByRole('button', { name: digit, exact: true }).click();
    await page.getByRole('button', { name: 'Unlock' }).click();
    // The coordinator screen asks for its PIN again; the walk-in draft is still there.
    await page.getByRole('heading', { name: 'Coordinator PIN' }).waitFor();
    await page.getByRole('button', { name: 'Walk-in', exact: true }).click();
    assert.equal(await page.getByLabel('First name').inputValue(), 'Draft');
    assertNoProblems(problems);
    await context.close();
  });

  it('makes the kiosk wait after too many wrong PINs, saying how long', async () => {
    const { page, problems, context } = await openKiosk(browser, server.url, 'scenario=locked');
    await page.getByRole('heading', { name: 'Kiosk locked' }).waitFor();
    for (let attempt = 0; attempt < 6; attempt += 1) {
      await page.getByLabel('Kiosk PIN').fill('1111');
      await page.getByRole('button', { name: 'Unlock' }).click();
      await page.getByText('Wrong PIN. Try again.').waitFor();
    }
    // Now even the right PIN waits, and the screen says so with the time left.
    await page.getByLabel('Kiosk PIN').fill('24682468');
    await page.getByRole('button', { name: 'Unlock' }).click();
    await page.getByText('Too many wrong PINs. The kiosk waits before it checks another.').waitFor();
    await page.getByText(/try again in \d+ s/).waitFor();
    await screenshot(page, '41a-unlock-too-many-attempts');
    await page.getByRole('heading', { name: 'Kiosk locked' }).waitFor();
    assertNoProblems(problems);
    await context.close();
  });

  it('locks the desk by itself after its idle time, warning first', async () => {
    const { page, problems, context } = await openKiosk(browser, server.url, 'scenario=ready&deskLock=1');
    await page.clock.install();
    await page.getByRole('button', { name: 'Walk-in', exact: true }).click();
    await page.getByLabel('First name').fill('Left');
    // 45 s later nobody has touched it: the last 20 s are counted down.
    await page.clock.fastForward('00:45');
    await page.getByRole('alert').getByText(/it locks in 15 s/).waitFor();
    await screenshot(page, '41b-walk-in-idle-warning');
    await page.clock.fastForward('00:16');
    await page.getByRole('heading', { name: 'Kiosk locked' }).waitFor();
    const locks = await page.evaluate(() => window.__fake?.calls.filter((c) => c.cmd === 'lock').length);
    assert.equal(locks, 1);
    for (const digit of '24682468') await page.getByRole('button', { name: digit, exact: true }).click();
    await page.getByRole('button', { name: 'Unlock' }).click();
    await page.getByRole('button', { name: 'Walk-in', exact: true }).click();
    assert.equal(await page.getByLabel('First name').inputValue(), 'Left', 'the form comes back as it was');

    // The idle time is a setting.
    await page.getByRole('button', { name: 'Settings', exact: true }).click();
    await page.getByLabel('Lock the desk after').selectOption('10');
    await page.getByText('Saved').first().waitFor();
    const saved = await page.evaluate(() => window.__fake?.calls.filter((c) => c.cmd === 'save_settings').map((c) => /** @type {{ settings: { desk_lock_minutes: number } }} */ (c.args).settings.desk_lock_minutes));
    assert.deepEqual(saved, [10]);
    assertNoProblems(problems);
    await context.close();
  });

  it('shows offline, clock skew, a newer package, parked changes and package import', async () => {
    const { page, problems, context } = await openKiosk(browser, server.url, 'scenario=ready&offline=1');
    await page.locator('.sync-indicator').getByText('Offline').waitFor();
    await page.getByText('Waiting to send: 3').waitFor();
    await screenshot(page, '42-gate-offline');
    await page.evaluate(() => {
      window.__fake?.setClockAhead(5 * 60 * 1000);
      window.__fake?.publishPackage(4);
    });
    await page.getByRole('button', { name: 'Coordinator', exact: true }).click();
    await page.getByLabel('Coordinator PIN').fill('1357');
    await page.getByRole('button', { name: 'Open' }).click();
    await page.getByText("This kiosk's clock is wrong").waitFor();
    await page.getByText('A newer package is available: version 4.', { exact: false }).waitFor();
    await page.getByText('The gate "Side door" is not in the current package.').waitFor();
    await page.getByRole('button', { name: 'Sync now' }).click();
    await page.getByText('The server cannot be reached. Check the network and try again.').waitFor();
    await screenshot(page, '43-coordinator-offline');

    await page.locator('input[type=file]').setInputFiles({ name: 'broken.gatepass', mimeType: 'application/octet-stream', buffer: Buffer.from('nope') });
    await page.getByText('This package was refused.').waitFor();
    await page.locator('input[type=file]').setInputFiles({ name: 'event.gatepass', mimeType: 'application/octet-stream', buffer: Buffer.from('GPKG-demo-package') });
    await page.getByText('Package version 4 loaded: 1,000 tickets.').waitFor();
    const imports = await page.evaluate(() => window.__fake?.calls.filter((c) => c.cmd === 'import_package').map((c) => c.args));
    assert.deepEqual(imports, ['<4 bytes>', '<17 bytes>']);

    // The parked change: set aside by the coordinator, then counted apart and gone from the list.
    const parkedRow = page.getByRole('row', { name: /Side door/ });
    await parkedRow.getByRole('button', { name: 'Set aside' }).click();
    await page.getByText('Set aside earlier: 1').waitFor();
    await page.getByText('None.').waitFor();
    const parkedCalls = await page.evaluate(() =>
      window.__fake?.calls.filter((c) => c.cmd === 'dismiss_parked' || c.cmd === 'retry_parked').map((c) => [c.cmd, c.args]),
    );
    assert.deepEqual(parkedCalls, [['dismiss_parked', { seq: 7 }]]);

    // The event's conflicts come from the server: offline, the panel says so; once online,
    // "Refresh" lists them, named from the package.
    await page.getByText('The server cannot be reached: the conflicts show when this kiosk is online.').waitFor();
    await page.evaluate(() => window.__fake?.setOnline(true));
    await page.getByRole('region', { name: 'Open conflicts' }).getByRole('button', { name: 'Refresh' }).click();
    await page.getByText('2 open conflicts.').waitFor();
    const twice = page.locator('[data-conflict-kind="double_admission"]');
    assert.match(await twice.innerText(), /Admitted twice.*Grace Hopper · DEMO-0002 · Day pass/s);
    assert.match(await page.locator('[data-conflict-kind="possible_duplicate"]').innerText(), /Possible duplicate registration/);
    await page.getByRole('region', { name: 'Open conflicts' }).scrollIntoViewIfNeeded();
    await screenshot(page, '44-coordinator-conflicts');
    assertNoProblems(problems);
    await context.close();
  });

  it('draws the gate and the verdicts in high contrast', async () => {
    const { page, problems, context } = await openKiosk(browser, server.url, 'scenario=ready&contrast=1');
    await page.getByText('Ready: scan a badge').waitFor();
    assert.equal(await page.evaluate(() => document.documentElement.classList.contains('high-contrast')), true);
    await screenshot(page, '44-gate-high-contrast');
    await wedgeScan(page, 'DEMO-0004');
    await waitForVerdict(page, 'admitted');
    await screenshot(page, '45-verdict-admitted-high-contrast');
    await wedgeScan(page, 'DEMO-0004');
    await waitForVerdict(page, 'already_used');
    await screenshot(page, '46-verdict-already-used-high-contrast');
    await wedgeScan(page, 'NOPE-0000');
    await waitForVerdict(page, 'unknown');
    await screenshot(page, '47-verdict-unknown-high-contrast');
    assertNoProblems(problems);
    await context.close();
  });
});

describe('a venue with no network at all', () => {
  it('enrols from a kiosk kit file and its code, straight to the gate picker', async () => {
    const { page, problems, context } = await openKiosk(browser, server.url);
    await page.getByRole('heading', { name: 'Set up this kiosk' }).waitFor();
    for (const [field, pin] of [['pin', '24682468'], ['pinAgain', '24682468'], ['coordinatorPin', '1357'], ['coordinatorPinAgain', '1357']]) {
      await page.locator(`#setup-${field}`).fill(pin);
    }
    await page.getByRole('button', { name: 'Set up the kiosk' }).click();
    await page.getByRole('heading', { name: 'Connect to the event server' }).waitFor();
    await page.getByRole('button', { name: 'Kiosk kit (no network)' }).click();
    await page.getByRole('button', { name: 'Connect' }).click();
    await page.getByText('Pick the kiosk kit file.').waitFor();
    await page.getByText('Enter the kit code given with the file.').waitFor();
    await screenshot(page, '48-enrol-kit-errors');
    await page.locator('#enrol-kit').setInputFiles({ name: 'far-gate.gatepass-kit', mimeType: 'application/octet-stream', buffer: Buffer.from('GATEPASS-KIT 1\n{}') });
    await page.locator('#enrol-kitCode').fill('7KQ2M-ABCDE-FGHJK-LMNPQ');
    await page.getByRole('button', { name: 'Connect' }).click();
    await page.getByRole('heading', { name: "Pick this kiosk's gate" }).waitFor();
    const calls = await fakeCalls(page, 'enrol_from_kit');
    assert.deepEqual(calls, ['<17 bytes>']);
    assertNoProblems(problems);
    await context.close();
  });
});
