import { act, render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import type { Connection, ConnectionType, Credentials } from "@/api/types";
import { ConnectionForm } from "./ConnectionForm";

function conn(type: ConnectionType, credentials: Connection["credentials"], extra: Partial<Connection> = {}): Connection {
  return {
    id: 7,
    name: "prod",
    type,
    credentials,
    is_active: true,
    last_validated_at: null,
    last_validation_error: null,
    needs_reauth: false,
    roles: [],
    created_at: "2026-01-01T00:00:00Z",
    updated_at: "2026-01-01T00:00:00Z",
    ...extra,
  };
}

async function pickType(user: ReturnType<typeof userEvent.setup>, label: string) {
  await user.selectOptions(screen.getByLabelText("Type"), label);
}

describe("ConnectionForm: creating", () => {
  it("s3: sends every field, booleans as booleans, empty optionals left out", async () => {
    const onSubmit = vi.fn();
    const user = userEvent.setup({ delay: null });
    render(<ConnectionForm onSubmit={onSubmit} />);
    await user.type(screen.getByLabelText("Name"), "  media  ");
    await user.type(screen.getByLabelText(/Access key ID/), "AKIA1");
    await user.type(screen.getByLabelText(/Secret access key/), "s3cr3t");
    await user.type(screen.getByLabelText(/Region/), "eu-west-1");
    await user.type(screen.getByLabelText(/Bucket/), "media");
    await user.type(screen.getByLabelText(/Endpoint URL/), "http://127.0.0.1:9000");
    await user.click(screen.getByLabelText("Force path-style addressing"));
    expect(screen.getByLabelText(/Secret access key/)).toHaveAttribute("type", "password");
    await user.click(screen.getByRole("button", { name: "Create connection" }));
    expect(onSubmit).toHaveBeenCalledWith({
      name: "media",
      type: "s3",
      credentials: {
        access_key: "AKIA1",
        secret_key: "s3cr3t",
        region: "eu-west-1",
        bucket: "media",
        endpoint: "http://127.0.0.1:9000",
        force_path_style: true,
      },
    });
  });

  it("mongodb: shows its own fields and requires the URI", async () => {
    const onSubmit = vi.fn();
    const user = userEvent.setup({ delay: null });
    render(<ConnectionForm onSubmit={onSubmit} />);
    await pickType(user, "MongoDB");
    expect(screen.queryByLabelText(/Bucket/)).toBeNull();
    expect(screen.getByLabelText(/Authentication database/)).toBeInTheDocument();
    await user.type(screen.getByLabelText("Name"), "db");
    await user.click(screen.getByRole("button", { name: "Create connection" }));
    expect(onSubmit).not.toHaveBeenCalled();
    expect(screen.getByLabelText(/Connection URI/)).toHaveAccessibleDescription("Enter the connection uri.");
    await user.type(screen.getByLabelText(/Connection URI/), "mongodb://u:p@127.0.0.1:27017");
    await user.type(screen.getByLabelText(/^Database/), "shop");
    await user.click(screen.getByRole("button", { name: "Create connection" }));
    expect(onSubmit).toHaveBeenCalledWith({
      name: "db",
      type: "mongodb",
      credentials: { uri: "mongodb://u:p@127.0.0.1:27017", database: "shop" },
    });
  });

  it("google_drive: offers Connect Google Drive and needs only a folder", async () => {
    const onSubmit = vi.fn();
    const user = userEvent.setup({ delay: null });
    render(<ConnectionForm onSubmit={onSubmit} />);
    await pickType(user, "Google Drive");
    expect(screen.getByRole("link", { name: /Connect Google Drive/ })).toBeInTheDocument();
    await user.type(screen.getByLabelText("Name"), "drive");
    await user.type(screen.getByLabelText(/Folder ID/), "folder123");
    await user.click(screen.getByRole("button", { name: "Create connection" }));
    expect(onSubmit).toHaveBeenCalledWith({ name: "drive", type: "google_drive", credentials: { folder_id: "folder123" } });
  });

  it("google_drive: Connect for a new connection carries its name and folder, and asks for them first", async () => {
    const user = userEvent.setup({ delay: null });
    render(<ConnectionForm onSubmit={() => {}} />);
    await pickType(user, "Google Drive");
    const link = () => screen.getByRole("link", { name: "Connect Google Drive" });
    // Clicks the link and reports whether the form stopped the navigation. The
    // probe on document runs after React's handler; it then stops jsdom from
    // trying to navigate.
    const clickPrevented = () => {
      let prevented: boolean | undefined;
      const probe = (e: Event) => {
        prevented = e.defaultPrevented;
        e.preventDefault();
      };
      document.addEventListener("click", probe);
      act(() => {
        link().dispatchEvent(new MouseEvent("click", { bubbles: true, cancelable: true }));
      });
      document.removeEventListener("click", probe);
      return prevented;
    };
    // Without a name and folder the click is stopped and both are asked for.
    expect(clickPrevented()).toBe(true);
    expect(screen.getByText("Enter a name for this connection before connecting Google Drive.")).toBeInTheDocument();
    expect(screen.getByText("Enter the folder ID before connecting Google Drive.")).toBeInTheDocument();

    await user.type(screen.getByLabelText("Name"), " Team drive & co ");
    await user.type(screen.getByLabelText(/Folder ID/), "1AbC?x=1");
    expect(link()).toHaveAttribute(
      "href",
      "/api/v1/oauth/google/start?name=Team+drive+%26+co&folder_id=1AbC%3Fx%3D1",
    );
    // Now the browser may follow the link: a full-page navigation, not a fetch.
    expect(clickPrevented()).toBe(false);
    expect(screen.queryByText(/before connecting Google Drive/)).toBeNull();
  });

  it("local: a directory path", async () => {
    const onSubmit = vi.fn();
    const user = userEvent.setup({ delay: null });
    render(<ConnectionForm onSubmit={onSubmit} />);
    await pickType(user, "Local directory");
    expect(screen.queryByRole("link", { name: /Connect Google Drive/ })).toBeNull();
    await user.type(screen.getByLabelText("Name"), "disk");
    await user.type(screen.getByLabelText(/Directory path/), "/srv/backups");
    await user.click(screen.getByRole("button", { name: "Create connection" }));
    expect(onSubmit).toHaveBeenCalledWith({ name: "disk", type: "local", credentials: { path: "/srv/backups" } });
  });

  it("checks the name and required s3 fields before sending", async () => {
    const onSubmit = vi.fn();
    const user = userEvent.setup({ delay: null });
    render(<ConnectionForm onSubmit={onSubmit} />);
    await user.click(screen.getByRole("button", { name: "Create connection" }));
    expect(onSubmit).not.toHaveBeenCalled();
    expect(screen.getByLabelText("Name")).toHaveAccessibleDescription("Enter a name for this connection.");
    expect(screen.getByLabelText(/Secret access key/)).toHaveAttribute("aria-invalid", "true");
    expect(screen.getByLabelText(/Bucket/)).toHaveAccessibleDescription("Enter the bucket.");
  });
});

describe("ConnectionForm: API field errors", () => {
  const stored: Record<ConnectionType, Credentials> = {
    s3: { access_key: "AKIA1", secret_key: "****abcd", region: "us-east-1", bucket: "media" },
    mongodb: { uri: "mongodb://u:****@127.0.0.1:27017" },
    google_drive: { folder_id: "folder123" },
    local: { path: "/srv/backups" },
  };
  it.each<[ConnectionType, string, string, RegExp]>([
    ["s3", "credentials.bucket", "The bucket does not exist.", /Bucket/],
    ["s3", "secret_key", "The secret key was rejected.", /Secret access key/],
    ["mongodb", "credentials.uri", "Cannot connect: authentication failed.", /Connection URI/],
    ["google_drive", "folder_id", "No such folder.", /Folder ID/],
    ["local", "credentials.path", "The directory is not writable.", /Directory path/],
  ])("%s: %s is shown beside its field", (type, key, message, label) => {
    render(
      <ConnectionForm
        connection={conn(type, stored[type])}
        fieldErrors={{ [key]: message }}
        formError="The connection could not be validated."
        onSubmit={() => {}}
      />,
    );
    const input = screen.getByLabelText(label);
    expect(input).toHaveAttribute("aria-invalid", "true");
    expect(input).toHaveAccessibleDescription(message);
    expect(screen.getByText("The connection could not be validated.")).toBeInTheDocument();
  });

  it("shows the name error and lists errors for unknown fields", () => {
    render(<ConnectionForm fieldErrors={{ name: "Name already used.", color: "not allowed" }} onSubmit={() => {}} />);
    expect(screen.getByLabelText("Name")).toHaveAccessibleDescription("Name already used.");
    expect(screen.getByRole("alert")).toHaveTextContent("color: not allowed");
  });
});

describe("ConnectionForm: a failed check", () => {
  const failed = {
    fieldErrors: {
      save_unchecked: "the connection check failed; correct the settings, or send save_unchecked: true to save them without the check",
    },
    formError: "S3 refused the request: the access key or secret key is wrong. Check both keys in the connection settings.",
  };

  it("shows the reason and offers to save without checking, which sends save_unchecked", async () => {
    const onSubmit = vi.fn();
    const user = userEvent.setup({ delay: null });
    render(<ConnectionForm {...failed} onSubmit={onSubmit} />);
    await user.type(screen.getByLabelText("Name"), "media");
    await user.type(screen.getByLabelText(/Access key ID/), "AKIA1");
    await user.type(screen.getByLabelText(/Secret access key/), "wrong");
    await user.type(screen.getByLabelText(/Region/), "eu-west-1");
    await user.type(screen.getByLabelText(/Bucket/), "media");
    const alert = screen.getByTestId("check-failed");
    expect(alert).toHaveTextContent("The connection check failed, so nothing was saved.");
    expect(alert).toHaveTextContent(failed.formError);
    // The hint for the API is not listed as a field of its own.
    expect(screen.queryByText(/save_unchecked:/)).toBeNull();
    await user.click(screen.getByRole("button", { name: "Save without checking" }));
    expect(onSubmit).toHaveBeenCalledWith({
      name: "media",
      type: "s3",
      credentials: { access_key: "AKIA1", secret_key: "wrong", region: "eu-west-1", bucket: "media", force_path_style: false },
      save_unchecked: true,
    });
    // Saving normally still asks for the check.
    await user.click(screen.getByRole("button", { name: "Create connection" }));
    expect(onSubmit.mock.calls[1]?.[0]).not.toHaveProperty("save_unchecked");
  });

  it("offers nothing of the kind for other errors", () => {
    render(<ConnectionForm fieldErrors={{ "credentials.bucket": "is required" }} formError="Correct the fields marked." onSubmit={() => {}} />);
    expect(screen.queryByRole("button", { name: "Save without checking" })).toBeNull();
    expect(screen.getByText("Correct the fields marked.")).toBeInTheDocument();
  });

  it("still checks the required fields before saving without checking", async () => {
    const onSubmit = vi.fn();
    const user = userEvent.setup({ delay: null });
    render(<ConnectionForm {...failed} onSubmit={onSubmit} />);
    await user.click(screen.getByRole("button", { name: "Save without checking" }));
    expect(onSubmit).not.toHaveBeenCalled();
    expect(screen.getByLabelText("Name")).toHaveAccessibleDescription("Enter a name for this connection.");
  });
});

describe("ConnectionForm: editing", () => {
  const s3 = conn("s3", {
    access_key: "AKIA1",
    secret_key: "****wxyz",
    region: "us-east-1",
    bucket: "media",
    force_path_style: true,
  });

  it("never shows a secret: the mask is a placeholder and is sent back unchanged", async () => {
    const onSubmit = vi.fn();
    const user = userEvent.setup({ delay: null });
    render(<ConnectionForm connection={s3} onSubmit={onSubmit} />);
    const secret = screen.getByLabelText(/Secret access key/);
    expect(secret).toHaveValue("");
    expect(secret).toHaveAttribute("placeholder", "****wxyz");
    expect(screen.getByLabelText("Type")).toBeDisabled();
    expect(screen.getByLabelText(/Access key ID/)).toHaveValue("AKIA1");
    expect(screen.getByLabelText("Force path-style addressing")).toBeChecked();
    await user.click(screen.getByRole("button", { name: "Save changes" }));
    expect(onSubmit).toHaveBeenCalledWith({
      name: "prod",
      type: "s3",
      credentials: { access_key: "AKIA1", secret_key: "****wxyz", region: "us-east-1", bucket: "media", force_path_style: true },
    });
  });

  it("replaces a secret when a new one is typed", async () => {
    const onSubmit = vi.fn();
    const user = userEvent.setup({ delay: null });
    render(<ConnectionForm connection={s3} onSubmit={onSubmit} />);
    await user.type(screen.getByLabelText(/Secret access key/), "n3w");
    await user.click(screen.getByRole("button", { name: "Save changes" }));
    expect(onSubmit.mock.calls[0]?.[0].credentials.secret_key).toBe("n3w");
  });

  it("offers Test and shows its result", async () => {
    const onTest = vi.fn();
    const user = userEvent.setup({ delay: null });
    const { rerender } = render(<ConnectionForm connection={s3} onSubmit={() => {}} onTest={onTest} />);
    await user.click(screen.getByRole("button", { name: "Test connection" }));
    expect(onTest).toHaveBeenCalledOnce();
    rerender(
      <ConnectionForm
        connection={s3}
        onSubmit={() => {}}
        onTest={onTest}
        testResult={{ ok: false, message: "403 SignatureDoesNotMatch", free_bytes: null, checked_at: "2026-01-01T00:00:00Z" }}
      />,
    );
    expect(screen.getByTestId("connection-test-result")).toHaveTextContent("Connection failed.");
    expect(screen.getByTestId("connection-test-result")).toHaveTextContent("403 SignatureDoesNotMatch");
  });

  it("google_drive: Connect links with the connection id, and is Reconnect when reauth is needed", () => {
    const { rerender } = render(
      <ConnectionForm connection={conn("google_drive", { folder_id: "f1", refresh_token: "****abcd" })} onSubmit={() => {}} />,
    );
    expect(screen.getByRole("link", { name: "Connect Google Drive" })).toHaveAttribute(
      "href",
      "/api/v1/oauth/google/start?connection_id=7",
    );
    expect(screen.queryByTestId("needs-reauth")).toBeNull();
    rerender(
      <ConnectionForm
        connection={conn("google_drive", { folder_id: "f1", refresh_token: "****abcd" }, { needs_reauth: true })}
        onSubmit={() => {}}
      />,
    );
    expect(screen.getByRole("link", { name: "Reconnect Google Drive" })).toHaveAttribute(
      "href",
      "/api/v1/oauth/google/start?connection_id=7",
    );
    expect(screen.getByText(/access has expired or was revoked/)).toBeInTheDocument();
    expect(screen.getByLabelText(/Refresh token/)).toHaveAttribute("placeholder", "****abcd");
  });
});
