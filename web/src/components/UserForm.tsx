import { useId, useState, type FormEvent } from "react";
import type { UserInput, UserRole } from "@/api/types";
import { Alert } from "@/components/ui/alert";
import { Button } from "@/components/ui/button";
import { Input, NativeSelect } from "@/components/ui/input";
import { fieldSentence } from "@/lib/fields";
import { MIN_PASSWORD_LENGTH } from "./ChangePasswordDialog";
import { describedBy, FormField } from "./FormField";

/** Human name and what each role may do. */
export const USER_ROLES: { value: UserRole; label: string; help: string }[] = [
  { value: "viewer", label: "Viewer", help: "Sees connections, backups, restores and logs; changes nothing." },
  { value: "operator", label: "Operator", help: "Also manages connections and starts, pauses and cancels backups and restores." },
  { value: "admin", label: "Administrator", help: "Also manages users and reads the audit log." },
];

/** roleLabel names a role for people. */
export function roleLabel(role: UserRole): string {
  return USER_ROLES.find((r) => r.value === role)?.label ?? role;
}

/** Props of UserForm. */
export interface UserFormProps {
  /** Per-field reasons from the API ("email", "role", "password"). */
  fieldErrors?: Record<string, string>;
  /** A form-wide error from the API. */
  formError?: string | null;
  submitting?: boolean;
  onSubmit: (input: UserInput) => void;
  onCancel?: () => void;
}

/**
 * UserForm creates a user: email, role and a first password. It checks what
 * it can before sending (the server checks again) and shows the server's
 * per-field reasons beside the fields.
 */
export function UserForm({ fieldErrors = {}, formError, submitting = false, onSubmit, onCancel }: UserFormProps) {
  const uid = useId();
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<UserRole>("viewer");
  const [password, setPassword] = useState("");
  const [local, setLocal] = useState<Record<string, string>>({});
  // A server reason stays shown until its field is edited after the submit that caused it.
  const [edited, setEdited] = useState<Set<string>>(new Set());

  const labels: Record<string, string> = { email: "Email", role: "Role", password: "Password" };
  const errorFor = (key: string) =>
    local[key] ?? (edited.has(key) ? undefined : fieldSentence(labels[key] ?? key, fieldErrors[key]));
  const otherErrors = Object.entries(fieldErrors).filter(([k]) => !(k in labels));
  const touch = (key: string) => {
    setEdited((prev) => new Set(prev).add(key));
    setLocal(({ [key]: _gone, ...rest }) => rest);
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const errors: Record<string, string> = {};
    const trimmed = email.trim();
    if (trimmed === "") errors.email = "Enter the user's email address.";
    else if (!/^[^\s@]+@[^\s@]+$/.test(trimmed)) errors.email = "Enter an email address such as name@example.com.";
    if (password.length < MIN_PASSWORD_LENGTH) errors.password = `Use at least ${MIN_PASSWORD_LENGTH} characters.`;
    setLocal(errors);
    if (Object.keys(errors).length > 0) return;
    setEdited(new Set());
    onSubmit({ email: trimmed, role, password });
  };

  const ids = { email: `${uid}-email`, role: `${uid}-role`, password: `${uid}-password` };
  const roleHelp = USER_ROLES.find((r) => r.value === role)?.help;
  const passwordHelp = `At least ${MIN_PASSWORD_LENGTH} characters. Tell the user; they can change it after signing in.`;

  return (
    <form onSubmit={submit} noValidate className="grid gap-4" aria-label="New user">
      {formError && <Alert variant="destructive">{formError}</Alert>}
      {otherErrors.length > 0 && (
        <Alert variant="destructive">
          <ul className="list-disc pl-4">
            {otherErrors.map(([k, v]) => (
              <li key={k}>{fieldSentence(k, v)}</li>
            ))}
          </ul>
        </Alert>
      )}
      <FormField id={ids.email} label="Email" error={errorFor("email")} required>
        <Input
          id={ids.email}
          type="email"
          autoComplete="off"
          value={email}
          aria-required
          aria-invalid={errorFor("email") ? true : undefined}
          aria-describedby={describedBy(ids.email, errorFor("email"), undefined)}
          onChange={(e) => {
            setEmail(e.target.value);
            touch("email");
          }}
        />
      </FormField>
      <FormField id={ids.role} label="Role" error={errorFor("role")} help={roleHelp}>
        <NativeSelect
          id={ids.role}
          value={role}
          aria-invalid={errorFor("role") ? true : undefined}
          aria-describedby={describedBy(ids.role, errorFor("role"), roleHelp)}
          onChange={(e) => {
            setRole(e.target.value as UserRole);
            touch("role");
          }}
        >
          {USER_ROLES.map((r) => (
            <option key={r.value} value={r.value}>
              {r.label}
            </option>
          ))}
        </NativeSelect>
      </FormField>
      <FormField id={ids.password} label="Password" error={errorFor("password")} help={passwordHelp} required>
        <Input
          id={ids.password}
          type="password"
          autoComplete="new-password"
          value={password}
          aria-required
          aria-invalid={errorFor("password") ? true : undefined}
          aria-describedby={describedBy(ids.password, errorFor("password"), passwordHelp)}
          onChange={(e) => {
            setPassword(e.target.value);
            touch("password");
          }}
        />
      </FormField>
      <div className="flex flex-col-reverse gap-2 sm:flex-row sm:justify-end">
        {onCancel && (
          <Button variant="outline" onClick={onCancel}>
            Cancel
          </Button>
        )}
        <Button type="submit" disabled={submitting}>
          {submitting ? "Creating…" : "Create user"}
        </Button>
      </div>
    </form>
  );
}
