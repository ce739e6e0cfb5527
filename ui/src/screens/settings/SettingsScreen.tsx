// Settings: camera, gate, sound, language, contrast, names, the desk's idle lock, the badge printer. Each change is saved at once (and
// the language and contrast apply at once), so there is no "save" to forget.
import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api } from '../../api';
import type { CameraInfo, Gate, Settings, UiError } from '../../bindings';
import { useKiosk } from '../../app/kiosk-context';
import { ErrorPanel } from '../../components/ErrorPanel';
import { TopBar } from '../../components/TopBar';
import { LANGUAGES, languageOf } from '../../i18n';
import { Toggle } from './Toggle';

/** The idle times the desk screen may lock after, in minutes (the engine takes 1 to 60). */
const DESK_LOCK_CHOICES = [1, 2, 5, 10, 15, 30];

/** The badge printer that writes PDF files (the engine's `BADGE_PRINTER_FILE`). */
const BADGE_PRINTER_FILE = 'file';

/** Each language's name in itself. */
const LANGUAGE_NAMES: Record<(typeof LANGUAGES)[number], string> = { en: 'English', fr: 'Français' };

export function SettingsScreen() {
  const { t } = useTranslation();
  const { state, setState, handleError } = useKiosk();
  const settings = state.settings;
  const [cameraList, setCameraList] = useState<CameraInfo[] | null>(null);
  const [gateList, setGateList] = useState<Gate[] | null>(null);
  const [printerList, setPrinterList] = useState<string[] | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    api.cameras().then(setCameraList).catch(() => setCameraList([]));
    api.printers().then(setPrinterList).catch(() => setPrinterList([]));
    api.gates().then(setGateList).catch((raw) => setError(handleError(raw as UiError)));
  }, [handleError]);

  const apply = async (action: () => Promise<typeof state>) => {
    setBusy(true);
    setError(null);
    setSaved(false);
    try {
      setState(await action());
      setSaved(true);
    } catch (raw) {
      setError(handleError(raw as UiError));
    } finally {
      setBusy(false);
    }
  };
  const save = (change: Partial<Settings>) => void apply(() => api.saveSettings({ ...settings, ...change }));

  return (
    <div className="screen">
      <TopBar title={t('settings.title')} />
      <main className="content content-narrow settings">
        <ErrorPanel error={error} />
        <div className="field">
          <label htmlFor="settings-gate" className="field-label">
            {t('settings.gate')}
          </label>
          <select
            id="settings-gate"
            className="input"
            value={settings.gate_id ?? ''}
            disabled={busy || !gateList}
            onChange={(event) => event.target.value && void apply(() => api.selectGate(event.target.value))}
          >
            {!settings.gate_id && <option value="">{t('settings.noGate')}</option>}
            {gateList?.map((gate) => (
              <option key={gate.id} value={gate.id}>
                {gate.name}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="settings-camera" className="field-label">
            {t('settings.camera')}
          </label>
          <select
            id="settings-camera"
            className="input"
            value={settings.camera ?? ''}
            disabled={busy}
            onChange={(event) => save({ camera: event.target.value || null })}
          >
            <option value="">{t('settings.cameraAuto')}</option>
            {cameraList?.map((camera) => (
              <option key={camera.id} value={camera.id}>
                {camera.name}
              </option>
            ))}
          </select>
          {cameraList?.length === 0 && <p className="field-help">{t('settings.noCamera')}</p>}
        </div>
        <fieldset className="field fieldset-choices">
          <legend className="field-label">{t('settings.language')}</legend>
          <div className="choices choices-inline">
            {LANGUAGES.map((language) => (
              <label className="check" key={language}>
                <input
                  type="radio"
                  name="settings-language"
                  value={language}
                  lang={language}
                  checked={languageOf(settings.language) === language}
                  disabled={busy}
                  onChange={() => save({ language })}
                />
                <span lang={language}>{LANGUAGE_NAMES[language]}</span>
              </label>
            ))}
          </div>
        </fieldset>
        <Toggle id="settings-sound" label={t('settings.sound')} help={t('settings.soundHelp')} checked={settings.sound} disabled={busy} onChange={(sound) => save({ sound })} />
        <Toggle id="settings-contrast" label={t('settings.highContrast')} help={t('settings.highContrastHelp')} checked={settings.high_contrast} disabled={busy} onChange={(high_contrast) => save({ high_contrast })} />
        <Toggle id="settings-names" label={t('settings.showNames')} help={t('settings.showNamesHelp')} checked={settings.show_names} disabled={busy} onChange={(show_names) => save({ show_names })} />
        <div className="field">
          <label htmlFor="settings-desk-lock" className="field-label">
            {t('settings.deskLock')}
          </label>
          <select
            id="settings-desk-lock"
            className="input"
            value={settings.desk_lock_minutes}
            disabled={busy}
            onChange={(event) => save({ desk_lock_minutes: Number(event.target.value) })}
          >
            {DESK_LOCK_CHOICES.map((minutes) => (
              <option key={minutes} value={minutes}>
                {t('settings.deskLockMinutes', { count: minutes })}
              </option>
            ))}
          </select>
          <p className="field-help">{t('settings.deskLockHelp')}</p>
        </div>
        <div className="field">
          <label htmlFor="settings-printer" className="field-label">
            {t('settings.badgePrinter')}
          </label>
          <select
            id="settings-printer"
            className="input"
            value={settings.badge_printer ?? ''}
            disabled={busy}
            onChange={(event) => save({ badge_printer: event.target.value || null })}
          >
            <option value="">{t('settings.printerDialog')}</option>
            {printerList?.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
            {printerList && settings.badge_printer && settings.badge_printer !== BADGE_PRINTER_FILE && !printerList.includes(settings.badge_printer) && (
              <option value={settings.badge_printer}>{t('settings.printerMissing', { name: settings.badge_printer })}</option>
            )}
            <option value={BADGE_PRINTER_FILE}>{t('settings.printerFile')}</option>
          </select>
          <p className="field-help">{t('settings.badgePrinterHelp')}</p>
        </div>
        <p className="saved-line" role="status">
          {saved ? t('settings.saved') : ''}
        </p>
      </main>
    </div>
  );
}
