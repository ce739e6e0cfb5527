// The fake kiosk's controls, as the pages under test expose them (src/mock/fake-kiosk.ts).
import type { FakeControls } from '../../src/mock/fake-kiosk';

declare global {
  interface Window {
    __fake?: FakeControls;
  }
}
