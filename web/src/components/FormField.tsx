import type { ReactNode } from "react";
import { Label } from "@/components/ui/label";

/** Props of FormField. */
export interface FormFieldProps {
  id: string;
  label: string;
  error?: string | undefined;
  help?: string | undefined;
  required?: boolean | undefined;
  children: ReactNode;
}

/** FormField lays out a label, a control, help text and an error message. */
export function FormField({ id, label, error, help, required, children }: FormFieldProps) {
  return (
    <div className="grid gap-1.5">
      <div className="flex items-baseline gap-0.5">
        <Label htmlFor={id}>{label}</Label>
        {/* Outside the label so the field's accessible name stays "label"; inputs carry aria-required. */}
        {required && (
          <span className="text-sm text-destructive" aria-hidden="true">
            *
          </span>
        )}
      </div>
      {children}
      {help && !error && (
        <p id={`${id}-help`} className="text-xs text-muted-foreground">
          {help}
        </p>
      )}
      {error && (
        <p id={`${id}-error`} className="text-xs font-medium text-destructive">
          {error}
        </p>
      )}
    </div>
  );
}

/** describedBy gives the aria-describedby value matching FormField's ids. */
export function describedBy(id: string, error: string | undefined, help: string | undefined): string | undefined {
  if (error) return `${id}-error`;
  if (help) return `${id}-help`;
  return undefined;
}
