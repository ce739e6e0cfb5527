import { useTranslation } from 'react-i18next';
import type { UiError } from '../bindings';
import { errorText } from './error-text';
import { AlertIcon } from './icons';

/** An error said plainly, with the engine's detail under it when that helps. */
export function ErrorPanel({ error, id }: { error: UiError | null; id?: string }) {
  const { t } = useTranslation();
  if (!error) return null;
  const { title, detail } = errorText(t, error);
  return (
    <div className="error-panel" role="alert" id={id}>
      <AlertIcon className="error-panel-icon" />
      <div>
        <p className="error-panel-title">{title}</p>
        {detail && <p className="error-panel-detail">{detail}</p>}
      </div>
    </div>
  );
}
