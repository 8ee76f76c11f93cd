// The api's budget of ingest bodies in flight: admitted by size once read, held until the request's
// work is done, one request always admitted, 429 with Retry-After beyond.
import { VigilError } from "@vigil/shared/errors/vigil-error";
import { describe, expect, test } from "vitest";
import { BodyBudget } from "../src/http/request-body.ts";

/** A promise and the function that resolves it. */
function gate() {
  let open = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

describe("BodyBudget", () => {
  test("admits bodies up to the budget while others are in flight, refuses beyond with 429", async () => {
    const budget = new BodyBudget(10);
    const first = gate();
    const running = budget.run(async (admit) => {
      admit(8);
      await first.opened;
      return "first";
    });
    expect(budget.held).toBe(8);
    await expect(budget.run(async (admit) => admit(3))).rejects.toMatchObject({
      code: "RATE_LIMITED",
      status: 429,
      headers: { "Retry-After": "1" },
    });
    await expect(budget.run(async (admit) => admit(2))).resolves.toBeUndefined();
    first.open();
    expect(await running).toBe("first");
    expect(budget.held).toBe(0);
  });

  test("one request is always admitted, however large; a failing request gives its bytes back", async () => {
    const budget = new BodyBudget(10);
    await expect(budget.run(async (admit) => admit(50))).resolves.toBeUndefined();
    const failing = budget.run(async (admit) => {
      admit(6);
      throw new VigilError("VALIDATION_FAILED", "bad");
    });
    await expect(failing).rejects.toBeInstanceOf(VigilError);
    expect(budget.held).toBe(0);
  });
});
