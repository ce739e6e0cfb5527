// The camera's preview for aiming, with the outline of a detected code drawn over it; or, with no
// camera, a plain message that scanning goes on with a USB scanner or by typing.
import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api, toUiError } from '../../api';
import type { CameraStatus, PreviewFrame } from '../../bindings';
import { useKioskEvent } from '../../app/use-kiosk-event';
import { CameraOffIcon } from '../../components/icons';
import { Spinner } from '../../components/Spinner';

export function CameraPanel({ cameraId }: { cameraId: string | null }) {
  const { t } = useTranslation();
  const [status, setStatus] = useState<CameraStatus | null>(null);
  const [frame, setFrame] = useState<PreviewFrame | null>(null);

  useEffect(() => {
    let active = true;
    setFrame(null);
    setStatus(null);
    api
      .startCamera((next) => {
        if (active) setFrame(next);
      })
      // The answer is "starting"; the loop's own events (running, failed...) may arrive before
      // it, and then they win.
      .then((answer) => active && setStatus((seen) => seen ?? answer))
      .catch((raw) => active && setStatus({ state: 'failed', message: toUiError(raw).message }));
    return () => {
      active = false;
      void api.stopCamera().catch(() => undefined);
    };
  }, [cameraId]);

  // Events come from every camera loop: "stopped" is the previous one ending (this panel stops its
  // own), so only running and the failures count. A frame on this start's channel proves the
  // camera runs even when the "running" event came before the page listened.
  useKioskEvent('camera-status', (next) => {
    if (next.state === 'stopped' || next.state === 'starting') return;
    setStatus(next);
    if (next.state !== 'running') setFrame(null);
  });

  if (status === null || (status.state === 'starting' && frame === null)) {
    return (
      <section className="camera camera-message" aria-label={t('camera.label')}>
        <Spinner label={t('camera.starting')} />
      </section>
    );
  }

  if (status.state !== 'running' && status.state !== 'starting') {
    const title = status.state === 'stopped' ? t('camera.stopped') : t('camera.none');
    return (
      <section className="camera camera-message" aria-label={t('camera.label')}>
        <CameraOffIcon className="camera-message-icon" />
        <p className="camera-message-title">{title}</p>
        {status.state === 'failed' && <p className="camera-message-detail">{t('camera.failed', { message: status.message })}</p>}
      </section>
    );
  }

  return (
    <section className="camera" aria-label={t('camera.label')}>
      {frame ? (
        <div className="camera-frame">
          <img className="camera-image" src={frame.image} alt={t('camera.preview', { name: status.camera.name })} />
          <svg
            className="camera-outline"
            viewBox={`0 0 ${frame.width} ${frame.height}`}
            preserveAspectRatio="xMidYMid meet"
            aria-hidden="true"
          >
            {frame.outline && frame.outline.length > 2 && (
              <polygon points={frame.outline.map((point) => `${point.x},${point.y}`).join(' ')} />
            )}
          </svg>
        </div>
      ) : (
        <div className="camera-message">
          <Spinner label={t('camera.waiting')} />
        </div>
      )}
      <p className="camera-caption">{t('camera.aim', { name: status.camera.name })}</p>
    </section>
  );
}
