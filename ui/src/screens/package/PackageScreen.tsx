// After enrolment: the kiosk needs the event package (tickets, gates, forms) before it scans.
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useKiosk } from '../../app/kiosk-context';
import { PackageLoader } from './PackageLoader';

export function PackageScreen() {
  const { t } = useTranslation();
  const { refresh } = useKiosk();
  const [done, setDone] = useState(false);
  return (
    <main className="screen screen-center">
      <div className="card card-wide">
        <p className="step-of">{t('package.step')}</p>
        <h1>{t('package.title')}</h1>
        <p className="lead">{t('package.intro')}</p>
        <PackageLoader onApplied={() => setDone(true)} />
        {done && (
          <button type="button" className="btn btn-primary btn-block" onClick={() => void refresh()} autoFocus>
            {t('package.continue')}
          </button>
        )}
      </div>
    </main>
  );
}
