// Every string is in both languages, with the same placeholders, and every key the code names
// exists.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import en from '../../src/locales/en.json';
import fr from '../../src/locales/fr.json';

type Tree = { [key: string]: string | Tree };

function flatten(tree: Tree, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(tree)) {
    if (typeof value === 'string') out[prefix + key] = value;
    else Object.assign(out, flatten(value, `${prefix}${key}.`));
  }
  return out;
}

const english = flatten(en as Tree);
const french = flatten(fr as Tree);
const placeholders = (text: string) => [...text.matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1]).sort();

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name: string) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'mock' ? [] : sources(path);
    return /\.(ts|tsx)$/.test(name) && name !== 'bindings.ts' ? [path] : [];
  });
}

describe('locale files', () => {
  it('have the same keys in English and French', () => {
    expect(Object.keys(french).sort()).toEqual(Object.keys(english).sort());
  });

  it('have no empty string', () => {
    for (const [key, value] of [...Object.entries(english), ...Object.entries(french)]) {
      expect(value.trim(), key).not.toBe('');
    }
  });

  it('use the same placeholders in both languages', () => {
    for (const key of Object.keys(english)) {
      expect(placeholders(french[key] ?? ''), key).toEqual(placeholders(english[key] ?? ''));
    }
  });

  it('hold every key the code names', () => {
    const namespaces = Object.keys(en).join('|');
    const literal = new RegExp(`['"\`]((?:${namespaces})\\.[A-Za-z_.]+[A-Za-z_])['"\`]`, 'g');
    const prefix = new RegExp(`\`((?:${namespaces})\\.[A-Za-z_.]*)\\$\\{`, 'g');
    const missing: string[] = [];
    let found = 0;
    // Vitest runs from ui/ (npm scripts and the vitest config live there).
    for (const file of sources(resolve(process.cwd(), 'src'))) {
      const text = readFileSync(file, 'utf8');
      for (const match of text.matchAll(literal)) {
        found += 1;
        const key = match[1] ?? '';
        // A counted string is held as its plural forms (i18next: key_one, key_other).
        if (!(key in english) && !(`${key}_other` in english && `${key}_one` in english)) missing.push(`${file}: ${key}`);
      }
      for (const match of text.matchAll(prefix)) {
        const start = match[1] ?? '';
        if (!Object.keys(english).some((key) => key.startsWith(start))) missing.push(`${file}: ${start}*`);
      }
    }
    expect(found).toBeGreaterThan(150);
    expect(missing).toEqual([]);
  });

  it('cover every error kind, verdict code and gate mode the engine sends', () => {
    const kinds = ['wrong_pin', 'bad_pin', 'too_many_attempts', 'locked', 'already_set_up', 'not_set_up', 'not_enrolled', 'no_package', 'no_gate', 'invalid', 'fields', 'package_refused', 'offline', 'revoked', 'server', 'camera', 'store', 'internal'];
    const codes = ['admitted', 'already_used', 'wrong_gate', 'not_yet_valid', 'expired', 'canceled', 'revoked', 'unknown', 'bad_signature', 'needs_answers'];
    for (const kind of kinds) expect(english, kind).toHaveProperty([`error.${kind}`]);
    for (const code of codes) {
      expect(english).toHaveProperty([`verdict.title.${code}`]);
      expect(english).toHaveProperty([`verdict.reason.${code}`]);
    }
    for (const mode of ['entry_only', 'exit_only', 'entry_and_exit']) expect(english).toHaveProperty([`gate.mode.${mode}`]);
  });
});
