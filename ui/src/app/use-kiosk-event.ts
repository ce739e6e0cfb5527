import { useEffect, useRef } from 'react';
import { onKioskEvent, type KioskEvents } from '../api';

/** Listens to a shell event while the component is shown (the latest handler is always used). */
export function useKioskEvent<K extends keyof KioskEvents>(
  name: K,
  handler: (payload: KioskEvents[K]) => void,
): void {
  const latest = useRef(handler);
  latest.current = handler;
  useEffect(() => {
    let stopped = false;
    let unlisten: (() => void) | null = null;
    onKioskEvent(name, (payload) => {
      if (!stopped) latest.current(payload);
    })
      .then((stop) => {
        if (stopped) stop();
        else unlisten = stop;
      })
      .catch(() => {
        // No shell to listen to (a browser without Tauri): nothing will arrive.
      });
    return () => {
      stopped = true;
      unlisten?.();
    };
  }, [name]);
}
