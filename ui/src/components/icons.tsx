// Icons as inline SVG (no icon font, nothing fetched). Each verdict family has its own shape,
// so a verdict never rests on colour alone.
import type { ReactNode } from 'react';

interface IconProps {
  className?: string;
  title?: string;
}

function Svg({ className, title, children }: IconProps & { children: ReactNode }) {
  return (
    <svg
      className={className}
      viewBox="0 0 48 48"
      aria-hidden={title ? undefined : true}
      role={title ? 'img' : undefined}
      focusable="false"
    >
      {title && <title>{title}</title>}
      {children}
    </svg>
  );
}

/** Admitted: a tick in a circle. */
export function CheckIcon(props: IconProps) {
  return (
    <Svg {...props}>
      <circle cx="24" cy="24" r="21" fill="none" stroke="currentColor" strokeWidth="4" />
      <path d="M13 25l7 7 15-16" fill="none" stroke="currentColor" strokeWidth="5" strokeLinecap="round" strokeLinejoin="round" />
    </Svg>
  );
}

/** Refused: a cross in an octagon (a stop sign). */
export function StopIcon(props: IconProps) {
  return (
    <Svg {...props}>
      <path d="M16 3h16l13 13v16L32 45H16L3 32V16z" fill="none" stroke="currentColor" strokeWidth="4" strokeLinejoin="round" />
      <path d="M16 16l16 16M32 16L16 32" stroke="currentColor" strokeWidth="5" strokeLinecap="round" />
    </Svg>
  );
}

/** Needs attention: an exclamation mark in a triangle. */
export function AlertIcon(props: IconProps) {
  return (
    <Svg {...props}>
      <path d="M24 4L45 42H3z" fill="none" stroke="currentColor" strokeWidth="4" strokeLinejoin="round" />
      <path d="M24 17v12" stroke="currentColor" strokeWidth="5" strokeLinecap="round" />
      <circle cx="24" cy="35.5" r="3" fill="currentColor" />
    </Svg>
  );
}

/** Exit recorded: an arrow leaving a door. */
export function ExitIcon(props: IconProps) {
  return (
    <Svg {...props}>
      <path d="M20 6H8v36h12" fill="none" stroke="currentColor" strokeWidth="4" strokeLinejoin="round" />
      <path d="M18 24h24M33 14l10 10-10 10" fill="none" stroke="currentColor" strokeWidth="5" strokeLinecap="round" strokeLinejoin="round" />
    </Svg>
  );
}

export function CloudIcon(props: IconProps) {
  return (
    <Svg {...props}>
      <path d="M14 38h22a9 9 0 0 0 1-18 12 12 0 0 0-23-2A10 10 0 0 0 14 38z" fill="none" stroke="currentColor" strokeWidth="4" strokeLinejoin="round" />
    </Svg>
  );
}

export function CloudOffIcon(props: IconProps) {
  return (
    <Svg {...props}>
      <path d="M14 38h22a9 9 0 0 0 1-18 12 12 0 0 0-23-2A10 10 0 0 0 14 38z" fill="none" stroke="currentColor" strokeWidth="4" strokeLinejoin="round" />
      <path d="M6 6l36 36" stroke="currentColor" strokeWidth="4" strokeLinecap="round" />
    </Svg>
  );
}

export function CameraOffIcon(props: IconProps) {
  return (
    <Svg {...props}>
      <rect x="4" y="13" width="30" height="24" rx="4" fill="none" stroke="currentColor" strokeWidth="4" />
      <path d="M34 21l10-6v20l-10-6" fill="none" stroke="currentColor" strokeWidth="4" strokeLinejoin="round" />
      <path d="M4 6l40 38" stroke="currentColor" strokeWidth="4" strokeLinecap="round" />
    </Svg>
  );
}
