// Typing a code by hand (a damaged badge, a code read out from a phone). A USB scanner typing
// into this box is recognised by its speed and reported as "wedge".
import { useRef, useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import type { TypedSource } from '../../api';
import { WedgeCollector } from './wedge';

export function CodeEntry({ onCode }: { onCode(code: string, source: TypedSource): void }) {
  const { t } = useTranslation();
  const [code, setCode] = useState('');
  const collector = useRef(new WedgeCollector());
  const scanned = useRef<string | null>(null);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const value = code.trim();
    if (!value) return;
    onCode(value, scanned.current === code ? 'wedge' : 'typed');
    scanned.current = null;
    setCode('');
  };

  return (
    <form className="code-entry" onSubmit={submit} noValidate>
      <label htmlFor="gate-code" className="field-label">
        {t('gate.typeCode')}
      </label>
      <div className="code-entry-row">
        <input
          id="gate-code"
          className="input input-code"
          value={code}
          autoComplete="off"
          autoCapitalize="characters"
          spellCheck={false}
          onKeyDown={(event) => {
            const result = collector.current.key(event.key, event.timeStamp);
            if (result.kind === 'code') scanned.current = result.code;
          }}
          onChange={(event) => setCode(event.target.value)}
        />
        <button type="submit" className="btn btn-primary" disabled={code.trim() === ''}>
          {t('gate.check')}
        </button>
      </div>
    </form>
  );
}
