import { cn } from "@/lib/utils";

/** Props of Progress: value in percent (0-100), or null for an indeterminate bar. */
export interface ProgressProps {
  value: number | null;
  label: string;
  className?: string;
}

/** Progress is an accessible progress bar. */
export function Progress({ value, label, className }: ProgressProps) {
  const clamped = value === null ? null : Math.max(0, Math.min(100, value));
  return (
    <div
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      {...(clamped === null ? {} : { "aria-valuenow": Math.round(clamped) })}
      className={cn("relative h-2.5 w-full overflow-hidden rounded-full bg-secondary", className)}
    >
      <div
        className={cn(
          "h-full bg-primary transition-[width] duration-300",
          clamped === null && "w-1/3 animate-pulse",
        )}
        style={clamped === null ? undefined : { width: `${clamped}%` }}
      />
    </div>
  );
}
