// One form field as a control: the right input for its kind, its label (with the required
// mark), its help text and its error, tied together for screen readers.
import type { ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import type { Field } from '../bindings';
import { countries } from './countries';
import type { RawAnswer } from './validation';

/** The DOM id of a field's control (the first control, for a group). */
export function controlId(fieldId: string): string {
  return `field-${fieldId}`;
}

interface FieldControlProps {
  field: Field;
  value: RawAnswer;
  onChange(value: RawAnswer): void;
  error?: string | null;
}

export function FieldControl({ field, value, onChange, error }: FieldControlProps) {
  const { t, i18n } = useTranslation();
  const id = controlId(field.id);
  const helpId = field.help ? `${id}-help` : undefined;
  const errorId = error ? `${id}-error` : undefined;
  const describedBy = [helpId, errorId].filter(Boolean).join(' ') || undefined;
  const invalid = error ? true : undefined;
  const text = typeof value === 'string' ? value : typeof value === 'number' ? String(value) : '';
  const required = field.required === true;

  const labelText = (
    <>
      {field.label}
      {required && (
        <span className="required-mark" aria-hidden="true">
          {' *'}
        </span>
      )}
      {required && <span className="sr-only"> ({t('form.required')})</span>}
    </>
  );
  const help = field.help ? (
    <p className="field-help" id={helpId}>
      {field.help}
    </p>
  ) : null;
  const errorLine = error ? (
    <p className="field-error" id={errorId}>
      {error}
    </p>
  ) : null;

  const wrap = (control: ReactNode) => (
    <div className={`field field-${field.kind}${error ? ' field-invalid' : ''}`} data-field={field.id}>
      <label htmlFor={id} className="field-label">
        {labelText}
      </label>
      {help}
      {control}
      {errorLine}
    </div>
  );

  const common = {
    id,
    'aria-invalid': invalid,
    'aria-describedby': describedBy,
    'aria-required': required || undefined,
  };

  switch (field.kind) {
    case 'text':
    case 'email':
    case 'phone': {
      const type = field.kind === 'email' ? 'email' : field.kind === 'phone' ? 'tel' : 'text';
      const autoComplete = field.kind === 'email' ? 'email' : field.kind === 'phone' ? 'tel' : 'off';
      return wrap(
        <input {...common} className="input" type={type} autoComplete={autoComplete} value={text} onChange={(e) => onChange(e.target.value)} />,
      );
    }
    case 'multiline':
      return wrap(<textarea {...common} className="input" rows={4} value={text} onChange={(e) => onChange(e.target.value)} />);
    case 'number':
      return wrap(
        <input
          {...common}
          className="input input-short"
          type="text"
          inputMode={field.validation?.integer ? 'numeric' : 'decimal'}
          autoComplete="off"
          value={text}
          onChange={(e) => onChange(e.target.value)}
        />,
      );
    case 'date':
      return wrap(<input {...common} className="input input-short" type="date" value={text} onChange={(e) => onChange(e.target.value)} />);
    case 'country':
      return wrap(
        <select {...common} className="input" value={text.toUpperCase()} onChange={(e) => onChange(e.target.value)}>
          <option value="">{t('form.chooseCountry')}</option>
          {countries(i18n.language).map((country) => (
            <option key={country.code} value={country.code}>
              {country.name}
            </option>
          ))}
        </select>,
      );
    case 'checkbox':
      return (
        <div className={`field field-checkbox${error ? ' field-invalid' : ''}`} data-field={field.id}>
          <label className="check">
            <input {...common} type="checkbox" checked={value === true} onChange={(e) => onChange(e.target.checked)} />
            <span>{labelText}</span>
          </label>
          {help}
          {errorLine}
        </div>
      );
    case 'single_choice':
    case 'multiple_choice': {
      const multiple = field.kind === 'multiple_choice';
      const ticked = Array.isArray(value) ? value : [];
      return (
        <fieldset
          className={`field fieldset-choices field-${field.kind}${error ? ' field-invalid' : ''}`}
          data-field={field.id}
          aria-describedby={describedBy}
          aria-invalid={invalid}
          role={multiple ? 'group' : 'radiogroup'}
          aria-required={!multiple && required ? true : undefined}
        >
          <legend className="field-label">{labelText}</legend>
          {help}
          <div className="choices">
            {(field.choices ?? []).map((choice, index) => (
              <label className="check" key={choice.id}>
                <input
                  id={index === 0 ? id : `${id}--${index}`}
                  type={multiple ? 'checkbox' : 'radio'}
                  name={id}
                  value={choice.id}
                  checked={multiple ? ticked.includes(choice.id) : text === choice.id}
                  onChange={(e) => {
                    if (!multiple) onChange(choice.id);
                    else if (e.target.checked) onChange([...ticked, choice.id]);
                    else onChange(ticked.filter((item) => item !== choice.id));
                  }}
                />
                <span>{choice.label}</span>
              </label>
            ))}
          </div>
          {errorLine}
        </fieldset>
      );
    }
    default:
      return wrap(<input {...common} className="input" value={text} onChange={(e) => onChange(e.target.value)} />);
  }
}
