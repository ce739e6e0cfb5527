// Enrolment: joins this kiosk to the event's server, from the enrolment QR's text
// (GATEPASS-ENROL:...) or from the server's address and a one-time token, with a label that
// tells the organisers which kiosk this is; or, at a venue with no network at all, from a kiosk
// kit file the organisers made on the server (`sync-server admin enrol kit`) and its kit code.
import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { api } from '../../api';
import type { UiError } from '../../bindings';
import { useKiosk } from '../../app/kiosk-context';
import { ErrorPanel } from '../../components/ErrorPanel';
import { TextField } from '../../components/TextField';
import { fieldErrorText } from '../../components/error-text';

type Mode = 'code' | 'address' | 'kit';
type EnrolField = 'invite' | 'serverUrl' | 'token' | 'label' | 'kit' | 'kitCode';

const ENROL_PREFIX = 'GATEPASS-ENROL:';

export function EnrolScreen() {
  const { t } = useTranslation();
  const { setState, handleError } = useKiosk();
  const [mode, setMode] = useState<Mode>('code');
  const [invite, setInvite] = useState('');
  const [serverUrl, setServerUrl] = useState('https://');
  const [token, setToken] = useState('');
  const [label, setLabel] = useState('');
  const [kit, setKit] = useState<File | null>(null);
  const [kitCode, setKitCode] = useState('');
  const [errors, setErrors] = useState<Partial<Record<EnrolField, string>>>({});
  const [error, setError] = useState<UiError | null>(null);
  const [busy, setBusy] = useState(false);

  const clear = (field: EnrolField) => setErrors((old) => ({ ...old, [field]: undefined }));

  const check = (): Partial<Record<EnrolField, string>> => {
    const problems: Partial<Record<EnrolField, string>> = {};
    if (mode === 'kit') {
      if (!kit) problems.kit = t('enrol.errors.kit');
      if (!kitCode.trim()) problems.kitCode = t('enrol.errors.kitCode');
      return problems;
    }
    if (mode === 'code') {
      if (!invite.trim().toUpperCase().startsWith(ENROL_PREFIX)) problems.invite = t('enrol.errors.code');
    } else {
      if (!/^https?:\/\/\S+$/.test(serverUrl.trim())) problems.serverUrl = t('enrol.errors.url');
      if (!token.trim()) problems.token = t('enrol.errors.token');
    }
    if (!label.trim()) problems.label = t('enrol.errors.label');
    return problems;
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const problems = check();
    setErrors(problems);
    setError(null);
    const first = (Object.keys(problems) as EnrolField[])[0];
    if (first) {
      document.getElementById(`enrol-${first}`)?.focus();
      return;
    }
    setBusy(true);
    try {
      const answer =
        mode === 'kit' && kit
          ? await api.enrolFromKit(new Uint8Array(await kit.arrayBuffer()), kitCode.trim())
          : mode === 'code'
            ? await api.enrol(invite.trim(), null, label.trim())
            : await api.enrol(serverUrl.trim(), token.trim(), label.trim());
      setState(answer);
    } catch (raw) {
      const failure = handleError(raw as UiError);
      const field = fieldOf(failure.field, mode);
      if (field) setErrors({ [field]: fieldErrorText(t, failure) });
      else setError(failure);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="screen screen-center">
      <form className="card card-wide" onSubmit={submit} noValidate>
        <p className="step-of">{t('enrol.step')}</p>
        <h1>{t('enrol.title')}</h1>
        <p className="lead">{t('enrol.intro')}</p>
        <div className="segmented" role="group" aria-label={t('enrol.how')}>
          <button type="button" className="btn btn-segment" aria-pressed={mode === 'code'} onClick={() => setMode('code')}>
            {t('enrol.byCode')}
          </button>
          <button type="button" className="btn btn-segment" aria-pressed={mode === 'address'} onClick={() => setMode('address')}>
            {t('enrol.byAddress')}
          </button>
          <button type="button" className="btn btn-segment" aria-pressed={mode === 'kit'} onClick={() => setMode('kit')}>
            {t('enrol.byKit')}
          </button>
        </div>
        {mode === 'kit' ? (
          <>
            <div className={`field${errors.kit ? ' field-invalid' : ''}`}>
              <label htmlFor="enrol-kit" className="field-label">
                {t('enrol.kit')}
              </label>
              <p className="field-help" id="enrol-kit-help">
                {t('enrol.kitHelp')}
              </p>
              <input
                id="enrol-kit"
                type="file"
                className="input"
                aria-invalid={errors.kit ? true : undefined}
                aria-describedby={`enrol-kit-help${errors.kit ? ' enrol-kit-error' : ''}`}
                onChange={(event) => {
                  setKit(event.target.files?.[0] ?? null);
                  clear('kit');
                }}
              />
              {errors.kit && (
                <p className="field-error" id="enrol-kit-error">
                  {errors.kit}
                </p>
              )}
            </div>
            <TextField id="enrol-kitCode" label={t('enrol.kitCode')} autoCapitalize="characters" spellCheck={false} value={kitCode} onValue={(v) => { setKitCode(v); clear('kitCode'); }} error={errors.kitCode} required />
          </>
        ) : mode === 'code' ? (
          <div className={`field${errors.invite ? ' field-invalid' : ''}`}>
            <label htmlFor="enrol-invite" className="field-label">
              {t('enrol.code')}
            </label>
            <p className="field-help" id="enrol-invite-help">
              {t('enrol.codeHelp')}
            </p>
            <textarea
              id="enrol-invite"
              className="input input-code"
              rows={3}
              spellCheck={false}
              autoCapitalize="off"
              value={invite}
              aria-invalid={errors.invite ? true : undefined}
              aria-describedby={`enrol-invite-help${errors.invite ? ' enrol-invite-error' : ''}`}
              onChange={(event) => {
                setInvite(event.target.value);
                clear('invite');
              }}
              autoFocus
            />
            {errors.invite && (
              <p className="field-error" id="enrol-invite-error">
                {errors.invite}
              </p>
            )}
          </div>
        ) : (
          <div className="field-row">
            <TextField id="enrol-serverUrl" label={t('enrol.serverUrl')} type="url" inputMode="url" autoCapitalize="off" spellCheck={false} value={serverUrl} onValue={(v) => { setServerUrl(v); clear('serverUrl'); }} error={errors.serverUrl} required />
            <TextField id="enrol-token" label={t('enrol.token')} autoCapitalize="off" spellCheck={false} value={token} onValue={(v) => { setToken(v); clear('token'); }} error={errors.token} required />
          </div>
        )}
        {mode !== 'kit' && (
          <TextField id="enrol-label" label={t('enrol.label')} help={t('enrol.labelHelp')} value={label} maxLength={100} onValue={(v) => { setLabel(v); clear('label'); }} error={errors.label} required />
        )}
        <ErrorPanel error={error} />
        {error?.kind === 'offline' && <p className="note">{t('enrol.offlineHint')}</p>}
        <button type="submit" className="btn btn-primary btn-block" disabled={busy}>
          {busy ? t('enrol.working') : t('enrol.submit')}
        </button>
      </form>
    </main>
  );
}

function fieldOf(field: string | null, mode: Mode): EnrolField | null {
  switch (field) {
    case 'invite':
      return mode === 'code' ? 'invite' : 'serverUrl';
    case 'server_url':
      return mode === 'code' ? 'invite' : 'serverUrl';
    case 'token':
      return mode === 'code' ? 'invite' : 'token';
    case 'label':
      return 'label';
    case 'kit':
      return 'kit';
    case 'kit_code':
      return 'kitCode';
    default:
      return null;
  }
}
