import { describe, expect, it } from 'vitest';
import { isTextEntry, WedgeCollector } from '../../src/screens/gate/wedge';

/** Feeds keys at the given gaps (ms) and returns the codes handed over. */
function feed(collector: WedgeCollector, keys: string[], gapMs: number, start = 1000): string[] {
  const codes: string[] = [];
  let at = start;
  for (const key of keys) {
    const result = collector.key(key, at);
    if (result.kind === 'code') codes.push(result.code);
    at += gapMs;
  }
  return codes;
}

const keysOf = (code: string) => [...code, 'Enter'];

describe('keyboard wedge collector', () => {
  it('turns fast keys ending with Enter into one code', () => {
    expect(feed(new WedgeCollector(), keysOf('DEMO-0001'), 8)).toEqual(['DEMO-0001']);
  });

  it('ignores slow typing, even when it ends with Enter', () => {
    expect(feed(new WedgeCollector(), keysOf('DEMO-0001'), 180)).toEqual([]);
  });

  it('ignores an Enter that comes long after fast keys', () => {
    const collector = new WedgeCollector();
    expect(feed(collector, [...'DEMO-0001'], 5)).toEqual([]);
    expect(collector.key('Enter', 5000).kind).toBe('ignored');
  });

  it('drops bursts shorter than the shortest code', () => {
    expect(feed(new WedgeCollector(), keysOf('ab'), 5)).toEqual([]);
  });

  it('starts over after a pause: a person typing then a scan gives the scan alone', () => {
    const collector = new WedgeCollector();
    const codes = feed(collector, [...'xyz'], 300, 0);
    codes.push(...feed(collector, keysOf('DEMO-0042'), 6, 5000));
    expect(codes).toEqual(['DEMO-0042']);
  });

  it('reads two scans in a row', () => {
    const collector = new WedgeCollector();
    const codes = feed(collector, [...keysOf('DEMO-0001'), ...keysOf('DEMO-0002')], 7);
    expect(codes).toEqual(['DEMO-0001', 'DEMO-0002']);
  });

  it('keeps a burst through modifier keys (a scanner sends Shift around capitals)', () => {
    const keys = ['Shift', 'D', 'Shift', 'E', 'M', 'O', '-', '1', 'Enter'];
    expect(feed(new WedgeCollector(), keys, 4)).toEqual(['DEMO-1']);
  });

  it('says which keys belong to a fast burst (second key onwards)', () => {
    const collector = new WedgeCollector();
    expect(collector.key('A', 0).kind).toBe('key');
    expect(collector.key('B', 5).kind).toBe('burst');
    expect(collector.key('C', 500).kind).toBe('key');
  });

  it('honours its options', () => {
    const collector = new WedgeCollector({ maxGapMs: 200, minLength: 2 });
    expect(feed(collector, keysOf('AB'), 150)).toEqual(['AB']);
  });

  it('knows text fields from other elements', () => {
    const input = document.createElement('input');
    const checkbox = document.createElement('input');
    checkbox.type = 'checkbox';
    const button = document.createElement('button');
    expect(isTextEntry(input)).toBe(true);
    expect(isTextEntry(document.createElement('textarea'))).toBe(true);
    expect(isTextEntry(checkbox)).toBe(false);
    expect(isTextEntry(button)).toBe(false);
    expect(isTextEntry(document.body)).toBe(false);
  });
});
