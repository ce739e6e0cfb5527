import { useEffect, useRef } from 'react';
import { isTextEntry, WedgeCollector } from './wedge';

interface WedgeHandlers {
  /** A USB scanner typed a code (focus was not in a text field). */
  onCode(code: string): void;
  /** Enter or Escape pressed by a person, with focus on nothing that uses the key itself. */
  onDismissKey(): void;
}

/** Whether Enter on this element does something of its own (a button, a link...). */
function usesEnter(target: EventTarget | null): boolean {
  return (
    target instanceof HTMLElement &&
    (target.closest('button, a[href], summary, [role="button"]') !== null || isTextEntry(target))
  );
}

/**
 * The longest pause between two keys of a scan: the collector's default (scanner speed), unless
 * this window's session widened it (sessionStorage `gatepass.wedgeMaxGapMs`). Only the
 * end-to-end tests set it: their WebDriver keys reach a loaded test machine slower than any
 * scanner types, and the gap rule itself is tested on its own (tests/unit/wedge.test.ts).
 */
function sessionMaxGapMs(): number | undefined {
  try {
    const value = Number(window.sessionStorage.getItem('gatepass.wedgeMaxGapMs'));
    return value > 0 ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The keyboard wedge on the whole window: keys that come scanner-fast while focus is outside
 * text fields are collected, and Enter hands the code over. Keys of a burst after the first
 * are kept from the page, so a scanner never presses the focused button.
 */
export function useWedge(handlers: WedgeHandlers): void {
  const latest = useRef(handlers);
  latest.current = handlers;
  useEffect(() => {
    const collector = new WedgeCollector({ maxGapMs: sessionMaxGapMs() });
    const onKeyDown = (event: KeyboardEvent) => {
      if (event.isComposing || event.ctrlKey || event.altKey || event.metaKey) return;
      if (isTextEntry(event.target)) {
        collector.reset();
        return;
      }
      const result = collector.key(event.key, event.timeStamp);
      if (result.kind === 'code') {
        event.preventDefault();
        event.stopPropagation();
        latest.current.onCode(result.code);
      } else if (result.kind === 'burst') {
        event.preventDefault();
      } else if ((event.key === 'Enter' || event.key === 'Escape') && !usesEnter(event.target)) {
        latest.current.onDismissKey();
      } else if (event.key === 'Escape') {
        latest.current.onDismissKey();
      }
    };
    window.addEventListener('keydown', onKeyDown, true);
    return () => window.removeEventListener('keydown', onKeyDown, true);
  }, []);
}
