/**
 * fieldSentence turns an API field reason into a sentence for a form: the
 * server says "is required" or "must be at least 8 characters long" for a
 * field, which reads as "Email is required." beside the field.
 */
export function fieldSentence(label: string, why: string | undefined): string | undefined {
  if (!why) return undefined;
  const t = why.trim();
  if (/^[a-z]/.test(t)) return `${label} ${t.replace(/\.$/, "")}.`;
  return t;
}
