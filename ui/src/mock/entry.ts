// The mock build's entry (vite --mode mock): the fake kiosk takes the IPC first, then the app
// starts exactly as in the shell. Never part of ui/dist.
import { installFakeKiosk } from './fake-kiosk';

installFakeKiosk();
void import('../main');
