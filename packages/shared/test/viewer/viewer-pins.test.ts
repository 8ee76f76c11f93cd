// Viewer pins: every read of a pinned viewer is narrowed to its pins, and asking for anything
// else is refused instead of silently widened or ignored.
import type { Principal } from "@vigil/shared/auth/principal";
import { authorize } from "@vigil/shared/auth/principal";
import { VigilError } from "@vigil/shared/errors/vigil-error";
import { applyViewerPins, eventWithinPins } from "@vigil/shared/viewer/viewer-pins";
import { describe, expect, test } from "vitest";

const TENANT = "0190a000-0000-7000-8000-000000000001";
const viewer: Principal = {
  kind: "viewer",
  tenantId: TENANT,
  subject: "user:x",
  pins: { user_id: "alice", resource_type: "invoice" },
};

describe("applyViewerPins", () => {
  test("adds the pins to a filter that names none of them", () => {
    const filter: { severity: string[]; user_id?: string } = { severity: ["ERROR"] };
    expect(applyViewerPins(viewer, filter)).toEqual({
      severity: ["ERROR"],
      user_id: "alice",
      resource_type: "invoice",
    });
  });

  test("accepts the pinned value itself, refuses any other with a 403 naming the field", () => {
    expect(applyViewerPins(viewer, { user_id: "alice" }).user_id).toBe("alice");
    for (const filter of [{ user_id: "bob" }, { resource_type: "user" }, { user_id: "" }]) {
      const error = (() => {
        try {
          applyViewerPins(viewer, filter);
        } catch (caught) {
          return caught;
        }
      })();
      expect(error).toBeInstanceOf(VigilError);
      expect((error as VigilError).status).toBe(403);
      expect((error as VigilError).errors?.[0]?.path).toBe(Object.keys(filter)[0]);
    }
  });

  test("leaves every other credential's filter alone", () => {
    const user: Principal = { kind: "user", userId: "u", tenantId: TENANT, role: "auditor" };
    expect(applyViewerPins(user, { user_id: "bob" })).toEqual({ user_id: "bob" });
  });
});

test("eventWithinPins: an event outside any pin is outside the viewer", () => {
  expect(eventWithinPins(viewer, { user_id: "alice", resource_type: "invoice", action: "x" })).toBe(true);
  expect(eventWithinPins(viewer, { user_id: "bob", resource_type: "invoice" })).toBe(false);
  expect(eventWithinPins(viewer, { user_id: "alice", resource_type: "user" })).toBe(false);
  expect(eventWithinPins(viewer, { user_id: null, resource_type: "invoice" })).toBe(false);
});

test("a viewer reads its own tenant only and can do nothing else", () => {
  expect(authorize(viewer, "events:read")).toBe(TENANT);
  expect(() => authorize(viewer, "events:read", "0190a000-0000-7000-8000-000000000002")).toThrow(VigilError);
  for (const permission of [
    "events:write",
    "events:cleanup",
    "tenant:keys",
    "viewer:issue",
    "tenants:manage",
  ] as const)
    expect(() => authorize(viewer, permission)).toThrow(/may not/);
});
