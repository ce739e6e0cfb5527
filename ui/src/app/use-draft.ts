import { useCallback, useState } from 'react';
import { useKiosk } from './kiosk-context';

/**
 * Like useState, but the value is also kept in the app's drafts under `key`, so it comes back
 * when the screen is shown again (after the lock screen, or going to the gate and back).
 */
export function useDraft<T>(key: string, initial: () => T): [T, (next: T | ((old: T) => T)) => void] {
  const { drafts } = useKiosk();
  const [value, setValue] = useState<T>(() =>
    drafts.has(key) ? (drafts.get(key) as T) : initial(),
  );
  const update = useCallback(
    (next: T | ((old: T) => T)) => {
      setValue((old) => {
        const resolved = typeof next === 'function' ? (next as (old: T) => T)(old) : next;
        drafts.set(key, resolved);
        return resolved;
      });
    },
    [drafts, key],
  );
  return [value, update];
}
