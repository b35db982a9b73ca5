import { Link } from "react-router";
import { EmptyState } from "@/components/EmptyState";
import { buttonVariants } from "@/components/ui/button";

/** NotFoundPage is shown for an unknown address. */
export default function NotFoundPage() {
  return (
    <EmptyState
      title="Page not found"
      action={
        <Link to="/" className={buttonVariants({ variant: "outline" })}>
          Go to the dashboard
        </Link>
      }
    >
      The address may be mistyped, or the item was deleted.
    </EmptyState>
  );
}
