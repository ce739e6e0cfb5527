import { useEffect, useRef, useState } from 'react';

/** The last seconds before an idle lock, when the screen warns that it will lock. */
export const IDLE_WARNING_SECONDS = 20;

/** What counts as someone at the screen. */
const ACTIVITY = ['keydown', 'pointerdown', 'pointermove', 'wheel', 'touchstart', 'input'] as const;

/**
 * Calls `onIdle` once `minutes` pass without a key press, touch or pointer move anywhere in the
 * window (a screen with personal data on it locks itself). Returns the seconds left during the
 * last IDLE_WARNING_SECONDS, else null, so the screen can warn; any activity starts again.
 */
export function useIdleLock(minutes: number, onIdle: () => void): number | null {
  const [secondsLeft, setSecondsLeft] = useState<number | null>(null);
  // The latest callback is used, without restarting the count when it changes.
  const onIdleRef = useRef(onIdle);
  onIdleRef.current = onIdle;
  useEffect(() => {
    const limitMs = Math.max(1, minutes) * 60_000;
    let lastActivity = Date.now();
    let fired = false;
    const tick = () => {
      if (fired) return;
      const left = limitMs - (Date.now() - lastActivity);
      if (left <= 0) {
        fired = true;
        setSecondsLeft(null);
        onIdleRef.current();
        return;
      }
      setSecondsLeft(left <= IDLE_WARNING_SECONDS * 1000 ? Math.ceil(left / 1000) : null);
    };
    const active = () => {
      lastActivity = Date.now();
      setSecondsLeft(null);
    };
    for (const name of ACTIVITY) document.addEventListener(name, active, { capture: true, passive: true });
    const timer = window.setInterval(tick, 1000);
    return () => {
      window.clearInterval(timer);
      for (const name of ACTIVITY) document.removeEventListener(name, active, { capture: true });
    };
  }, [minutes]);
  return secondsLeft;
}
