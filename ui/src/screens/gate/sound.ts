// A short tone per verdict family, made with WebAudio (no audio files): a rising double beep
// for an admission, one soft beep for an exit, two flat beeps for "attention", a low buzz for a
// refusal. Silent where the webview has no audio.
import type { VerdictFamily } from './verdicts';

type Tone = { frequency: number; start: number; duration: number; wave: OscillatorType };

const TONES: Record<VerdictFamily, Tone[]> = {
  admitted: [
    { frequency: 880, start: 0, duration: 0.12, wave: 'sine' },
    { frequency: 1320, start: 0.14, duration: 0.2, wave: 'sine' },
  ],
  exit: [{ frequency: 660, start: 0, duration: 0.18, wave: 'sine' }],
  attention: [
    { frequency: 520, start: 0, duration: 0.16, wave: 'square' },
    { frequency: 520, start: 0.24, duration: 0.16, wave: 'square' },
  ],
  refused: [{ frequency: 180, start: 0, duration: 0.5, wave: 'sawtooth' }],
};

let context: AudioContext | null = null;

function audio(): AudioContext | null {
  if (!context) {
    const Context =
      window.AudioContext ??
      (window as unknown as { webkitAudioContext?: typeof AudioContext }).webkitAudioContext;
    if (!Context) return null;
    try {
      context = new Context();
    } catch {
      return null;
    }
  }
  if (context.state === 'suspended') void context.resume().catch(() => undefined);
  return context;
}

export function playVerdictSound(family: VerdictFamily): void {
  const ctx = audio();
  if (!ctx) return;
  const now = ctx.currentTime;
  for (const tone of TONES[family]) {
    const oscillator = ctx.createOscillator();
    const gain = ctx.createGain();
    oscillator.type = tone.wave;
    oscillator.frequency.value = tone.frequency;
    const start = now + tone.start;
    const end = start + tone.duration;
    gain.gain.setValueAtTime(0.0001, start);
    gain.gain.exponentialRampToValueAtTime(0.3, start + 0.01);
    gain.gain.exponentialRampToValueAtTime(0.0001, end);
    oscillator.connect(gain).connect(ctx.destination);
    oscillator.start(start);
    oscillator.stop(end + 0.02);
  }
}
