// First run: the kiosk PIN (volunteers unlock the kiosk with it) and the coordinator PIN (opens
// the coordinator screen and is the only way out of kiosk mode), each typed twice.
import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { api } from '../../api';
import type { UiError } from '../../bindings';
import { useKiosk } from '../../app/kiosk-context';
import { ErrorPanel } from '../../components/ErrorPanel';
import { TextField } from '../../components/TextField';
import { fieldErrorText } from '../../components/error-text';
import { checkSetup, type SetupField, type SetupValues } from './setup-rules';

const EMPTY: SetupValues = { pin: '', pinAgain: '', coordinatorPin: '', coordinatorPinAgain: '' };

export function SetupScreen() {
  const { t } = useTranslation();
  const { setState, handleError } = useKiosk();
  const [values, setValues] = useState<SetupValues>(EMPTY);
  const [errors, setErrors] = useState<Partial<Record<SetupField, string>>>({});
  const [error, setError] = useState<UiError | null>(null);
  const [busy, setBusy] = useState(false);

  const set = (field: SetupField) => (value: string) => {
    setValues((old) => ({ ...old, [field]: value }));
    setErrors((old) => ({ ...old, [field]: undefined }));
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const problems = checkSetup(values);
    const translated = Object.fromEntries(
      Object.entries(problems).map(([field, key]) => [field, t(key)]),
    ) as Partial<Record<SetupField, string>>;
    setErrors(translated);
    setError(null);
    const first = (Object.keys(problems) as SetupField[])[0];
    if (first) {
      document.getElementById(`setup-${first}`)?.focus();
      return;
    }
    setBusy(true);
    try {
      setState(await api.setUp(values.pin, values.coordinatorPin));
    } catch (raw) {
      const failure = handleError(raw as UiError);
      const field: SetupField | null =
        failure.field === 'pin' ? 'pin' : failure.field === 'coordinator_pin' ? 'coordinatorPin' : null;
      if (field) {
        setErrors({ [field]: fieldErrorText(t, failure) });
        document.getElementById(`setup-${field}`)?.focus();
      } else {
        setError(failure);
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="screen screen-center">
      <form className="card card-xwide" onSubmit={submit} noValidate>
        <h1>{t('setup.title')}</h1>
        <p className="lead">{t('setup.intro')}</p>
        <div className="fieldset-pair">
        <fieldset className="fieldset">
          <legend>{t('setup.kioskPin')}</legend>
          <p className="field-help">{t('setup.kioskPinHelp')}</p>
          <TextField id="setup-pin" label={t('setup.pin')} type="password" inputMode="numeric" autoComplete="new-password" value={values.pin} onValue={set('pin')} error={errors.pin} required autoFocus />
          <TextField id="setup-pinAgain" label={t('setup.pinAgain')} type="password" inputMode="numeric" autoComplete="new-password" value={values.pinAgain} onValue={set('pinAgain')} error={errors.pinAgain} required />
        </fieldset>
        <fieldset className="fieldset">
          <legend>{t('setup.coordinatorPin')}</legend>
          <p className="field-help">{t('setup.coordinatorPinHelp')}</p>
          <TextField id="setup-coordinatorPin" label={t('setup.pin')} type="password" inputMode="numeric" autoComplete="new-password" value={values.coordinatorPin} onValue={set('coordinatorPin')} error={errors.coordinatorPin} required />
          <TextField id="setup-coordinatorPinAgain" label={t('setup.pinAgain')} type="password" inputMode="numeric" autoComplete="new-password" value={values.coordinatorPinAgain} onValue={set('coordinatorPinAgain')} error={errors.coordinatorPinAgain} required />
        </fieldset>
        </div>
        <ErrorPanel error={error} />
        <button type="submit" className="btn btn-primary btn-block" disabled={busy}>
          {busy ? t('setup.working') : t('setup.submit')}
        </button>
      </form>
    </main>
  );
}
