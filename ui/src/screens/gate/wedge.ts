// The keyboard wedge: a USB scanner "types" the code it read, much faster than a person, and
// ends with Enter. The collector keeps keys that arrive less than `maxGapMs` apart and, on an
// Enter that ends such a burst, hands over the code. Slow typing never makes a code: each key
// after a pause starts a new burst, and a burst shorter than `minLength` is dropped.
//
// Pure and clock-free: the caller passes each key's time stamp (KeyboardEvent.timeStamp).

export interface WedgeOptions {
  /** Longest pause between two keys of one scan. */
  maxGapMs?: number;
  /** Fewest characters a scanned code has. */
  minLength?: number;
}

/** What a key did to the collector. */
export type WedgeResult =
  /** The key ended a scan: here is the code. */
  | { kind: 'code'; code: string }
  /** The key was taken into a burst that is already scanner-fast (second key onwards). */
  | { kind: 'burst' }
  /** The key may be a person typing (or the first key of a scan). */
  | { kind: 'key' }
  /** Not a key the collector handles (Enter after slow typing, modifiers, arrows...). */
  | { kind: 'ignored' };

export class WedgeCollector {
  private readonly maxGapMs: number;
  private readonly minLength: number;
  private buffer = '';
  private last = Number.NEGATIVE_INFINITY;

  constructor(options: WedgeOptions = {}) {
    this.maxGapMs = options.maxGapMs ?? 50;
    this.minLength = options.minLength ?? 3;
  }

  /** Feeds one keydown: `key` as in KeyboardEvent.key, `at` in milliseconds. */
  key(key: string, at: number): WedgeResult {
    const fast = at - this.last <= this.maxGapMs;
    if (key === 'Enter') {
      const code = this.buffer;
      const complete = fast && code.length >= this.minLength;
      this.reset();
      return complete ? { kind: 'code', code } : { kind: 'ignored' };
    }
    if ([...key].length !== 1) {
      // Shift, Tab, arrows...: a scanner sends Shift around capitals, so it keeps the burst.
      return { kind: 'ignored' };
    }
    if (!fast) this.buffer = '';
    this.buffer += key;
    this.last = at;
    return this.buffer.length > 1 ? { kind: 'burst' } : { kind: 'key' };
  }

  /** Forgets any partial burst. */
  reset(): void {
    this.buffer = '';
    this.last = Number.NEGATIVE_INFINITY;
  }
}

/** Whether keys typed now go into a text control (where the collector must stay out). */
export function isTextEntry(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  if (target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return true;
  if (target instanceof HTMLInputElement) {
    const nonText = ['button', 'checkbox', 'radio', 'submit', 'reset', 'file', 'image', 'range', 'color'];
    return !nonText.includes(target.type);
  }
  return false;
}
