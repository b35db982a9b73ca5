import type { EncryptionKey } from "@/api/types";
import { FormField } from "@/components/FormField";
import { NativeSelect } from "@/components/ui/input";

/** EncryptionSelect picks the age key a backup or a plan encrypts its archives with ("" for none). */
export function EncryptionSelect({
  id,
  value,
  onChange,
  keys,
  error,
}: {
  id: string;
  value: string;
  onChange: (v: string) => void;
  keys: EncryptionKey[];
  error?: string;
}) {
  return (
    <FormField
      id={id}
      label="Encryption"
      error={error}
      help={keys.length === 0 ? "Add a key under Keys to encrypt archives with age." : "age encrypts the archive before it leaves coffer (….tar.gz.age)."}
    >
      <NativeSelect id={id} value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">None</option>
        {keys.map((k) => (
          <option key={k.id} value={k.id}>
            {k.name} ({k.type === "passphrase" ? "passphrase" : k.keeps_identity ? "identity kept" : "identity offline"})
          </option>
        ))}
      </NativeSelect>
    </FormField>
  );
}
