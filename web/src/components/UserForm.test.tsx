import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { UserForm } from "./UserForm";

describe("UserForm", () => {
  it("sends email (trimmed), role and password", async () => {
    const onSubmit = vi.fn();
    const user = userEvent.setup({ delay: null });
    render(<UserForm onSubmit={onSubmit} />);
    await user.type(screen.getByLabelText("Email"), "  ann@example.com ");
    await user.selectOptions(screen.getByLabelText("Role"), "Operator");
    await user.type(screen.getByLabelText("Password"), "longenough");
    await user.click(screen.getByRole("button", { name: "Create user" }));
    expect(onSubmit).toHaveBeenCalledWith({ email: "ann@example.com", role: "operator", password: "longenough" });
  });

  it("checks the email and password length before sending", async () => {
    const onSubmit = vi.fn();
    const user = userEvent.setup({ delay: null });
    render(<UserForm onSubmit={onSubmit} />);
    await user.type(screen.getByLabelText("Email"), "not-an-email");
    await user.type(screen.getByLabelText("Password"), "short");
    await user.click(screen.getByRole("button", { name: "Create user" }));
    expect(onSubmit).not.toHaveBeenCalled();
    expect(screen.getByLabelText("Email")).toHaveAccessibleDescription("Enter an email address such as name@example.com.");
    expect(screen.getByLabelText("Password")).toHaveAccessibleDescription("Use at least 8 characters.");
    expect(screen.getByLabelText("Email")).toHaveAttribute("aria-invalid", "true");
  });

  it("shows the server's field reasons as sentences beside their fields, until the field is edited", async () => {
    const user = userEvent.setup({ delay: null });
    render(
      <UserForm
        onSubmit={() => {}}
        formError="The user was not created; correct the fields marked."
        fieldErrors={{ email: "is already registered", role: "must be admin, operator or viewer", extra: "is odd" }}
      />,
    );
    expect(screen.getByText("The user was not created; correct the fields marked.")).toBeInTheDocument();
    expect(screen.getByLabelText("Email")).toHaveAccessibleDescription("Email is already registered.");
    expect(screen.getByLabelText("Role")).toHaveAccessibleDescription("Role must be admin, operator or viewer.");
    // A field the form does not have is still shown.
    expect(screen.getByText("extra is odd.")).toBeInTheDocument();
    await user.type(screen.getByLabelText("Email"), "x");
    expect(screen.getByLabelText("Email")).not.toHaveAccessibleDescription("Email is already registered.");
    expect(screen.getByLabelText("Role")).toHaveAccessibleDescription("Role must be admin, operator or viewer.");
  });
});
