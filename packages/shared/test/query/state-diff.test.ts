// The field-level diff behind resource history: pure logic, tested case by case.

import { diffStates } from "@vigil/shared/query/state-diff";
import { describe, expect, test } from "vitest";

describe("diffStates", () => {
  test("added, removed and changed top-level fields", () => {
    expect(
      diffStates(
        { status: "draft", owner: "ann", amount: 1 },
        { status: "approved", amount: 1, approver: "bob" },
      ),
    ).toEqual({
      added: [{ path: "approver", value: "bob" }],
      removed: [{ path: "owner", value: "ann" }],
      changed: [{ path: "status", old: "draft", new: "approved" }],
    });
  });

  test("nested objects report the deepest path that differs", () => {
    expect(
      diffStates(
        { address: { city: "Oslo", zip: "0150", geo: { lat: 1 } } },
        { address: { city: "Bergen", zip: "0150", geo: { lat: 1, lon: 2 } } },
      ),
    ).toEqual({
      added: [{ path: "address.geo.lon", value: 2 }],
      removed: [],
      changed: [{ path: "address.city", old: "Oslo", new: "Bergen" }],
    });
  });

  test("arrays are compared index by index; growth and shrinkage are added and removed items", () => {
    expect(
      diffStates(
        { tags: ["a", "b"], items: [{ sku: 1 }, { sku: 2 }, { sku: 3 }] },
        { tags: ["a", "c", "d"], items: [{ sku: 1 }, { sku: 9 }] },
      ),
    ).toEqual({
      added: [{ path: "tags[2]", value: "d" }],
      removed: [{ path: "items[2]", value: { sku: 3 } }],
      changed: [
        { path: "tags[1]", old: "b", new: "c" },
        { path: "items[1].sku", old: 2, new: 9 },
      ],
    });
  });

  test("a change of type is a change of the whole value", () => {
    expect(diffStates({ a: { x: 1 }, b: [1], c: null }, { a: "flat", b: { 0: 1 }, c: 0 })).toEqual({
      added: [],
      removed: [],
      changed: [
        { path: "a", old: { x: 1 }, new: "flat" },
        { path: "b", old: [1], new: { 0: 1 } },
        { path: "c", old: null, new: 0 },
      ],
    });
  });

  test("a missing state counts as empty: CREATE adds everything, DELETE removes everything", () => {
    expect(diffStates(null, { id: 1, tags: [] })).toEqual({
      added: [
        { path: "id", value: 1 },
        { path: "tags", value: [] },
      ],
      removed: [],
      changed: [],
    });
    expect(diffStates({ id: 1 }, undefined)).toEqual({
      added: [],
      removed: [{ path: "id", value: 1 }],
      changed: [],
    });
    expect(diffStates(null, null)).toEqual({ added: [], removed: [], changed: [] });
  });

  test("equal states, including key order differences, have no diff", () => {
    expect(diffStates({ a: 1, b: { c: [1, { d: 2 }] } }, { b: { c: [1, { d: 2 }] }, a: 1 })).toEqual({
      added: [],
      removed: [],
      changed: [],
    });
  });

  test("keys that would be ambiguous in dotted notation are quoted", () => {
    expect(
      diffStates({ "a.b": 1, "with space": { x: 1 } }, { "a.b": 2, "with space": { x: 2 } }).changed.map(
        (change) => change.path,
      ),
    ).toEqual(['["a.b"]', '["with space"].x']);
  });
});
