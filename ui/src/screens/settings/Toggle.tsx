/** An on/off setting: a big checkbox drawn as a switch, with its label and help. */
export function Toggle({ id, label, help, checked, disabled, onChange }: { id: string; label: string; help?: string; checked: boolean; disabled?: boolean; onChange(checked: boolean): void }) {
  return (
    <div className="field toggle-field">
      <label className="toggle" htmlFor={id}>
        <input
          id={id}
          type="checkbox"
          role="switch"
          checked={checked}
          disabled={disabled}
          aria-describedby={help ? `${id}-help` : undefined}
          onChange={(event) => onChange(event.target.checked)}
        />
        <span className="toggle-track" aria-hidden="true" />
        <span className="toggle-label">{label}</span>
      </label>
      {help && (
        <p className="field-help" id={`${id}-help`}>
          {help}
        </p>
      )}
    </div>
  );
}
