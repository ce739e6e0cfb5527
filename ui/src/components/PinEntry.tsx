import { useId, useRef, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';

interface PinEntryProps {
  label: string;
  value: string;
  onValue(value: string): void;
  onSubmit(): void;
  submitLabel: string;
  error?: string | null;
  busy?: boolean;
  /** Show the on-screen keypad (for touch screens). */
  keypad?: boolean;
  autoFocus?: boolean;
  id?: string;
}

const KEYS = ['1', '2', '3', '4', '5', '6', '7', '8', '9'];

/**
 * A PIN: a masked input that takes a keyboard (digits or letters), with an on-screen keypad
 * of big keys for touch screens. Enter or the OK key submits.
 */
export function PinEntry({ label, value, onValue, onSubmit, submitLabel, error, busy, keypad = true, autoFocus, id }: PinEntryProps) {
  const { t } = useTranslation();
  const auto = useId();
  const inputId = id ?? auto;
  const input = useRef<HTMLInputElement>(null);
  const errorId = `${inputId}-error`;

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!busy) onSubmit();
  };
  const press = (key: string) => {
    onValue(value + key);
    input.current?.focus();
  };

  return (
    <form className="pin-entry" onSubmit={submit} noValidate>
      <div className={`field${error ? ' field-invalid' : ''}`}>
        <label htmlFor={inputId} className="field-label">
          {label}
        </label>
        <input
          ref={input}
          id={inputId}
          className="input input-pin"
          type="password"
          inputMode="numeric"
          autoComplete="off"
          autoFocus={autoFocus}
          value={value}
          maxLength={64}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? errorId : undefined}
          onChange={(event) => onValue(event.target.value)}
        />
        {error && (
          <p className="field-error" id={errorId} role="alert">
            {error}
          </p>
        )}
      </div>
      {keypad && (
        <div className="keypad" role="group" aria-label={t('pin.keypad')}>
          {KEYS.map((key) => (
            <button key={key} type="button" className="key" onClick={() => press(key)} tabIndex={-1}>
              {key}
            </button>
          ))}
          <button
            type="button"
            className="key key-muted"
            onClick={() => {
              onValue(value.slice(0, -1));
              input.current?.focus();
            }}
            aria-label={t('pin.erase')}
            tabIndex={-1}
          >
            ⌫
          </button>
          <button type="button" className="key" onClick={() => press('0')} tabIndex={-1}>
            0
          </button>
          <button
            type="button"
            className="key key-muted"
            onClick={() => {
              onValue('');
              input.current?.focus();
            }}
            aria-label={t('pin.clear')}
            tabIndex={-1}
          >
            C
          </button>
        </div>
      )}
      <button type="submit" className="btn btn-primary btn-block" disabled={busy || value === ''}>
        {busy ? t('common.working') : submitLabel}
      </button>
    </form>
  );
}
