// A misspelt error code: every comparison is an error. Each line marked `//!` must produce
// exactly that diagnostic (code and the start of its message); no other line may.
import { Client, CraftError, type CraftErrorCode } from "@craft/client";

export function check(e: unknown, client: Client): void {
  if (e instanceof CraftError && e.code === "ROOM_NOT_FUOND") return; //! TS2367 This comparison appears to be unintentional because the types 'CraftErrorCode' and '"ROOM_NOT_FUOND"' have no overlap.
  client.on("error", (err) => err.code === "TIMEOUTS"); //! TS2367 This comparison appears to be unintentional because the types 'CraftErrorCode' and '"TIMEOUTS"' have no overlap.
  const code: CraftErrorCode = "NOT_A_CODE"; //! TS2322 Type '"NOT_A_CODE"' is not assignable to type 'CraftErrorCode'.
  void code;
}
