// Issue 12's calls are typed too: values are string | number | boolean, events are named maps.
// Each line marked `//!` must produce exactly that diagnostic; no other line may.
import { Client, type Room } from "@craft/client";

export async function check(client: Client, room: Room): Promise<void> {
  await room.setProperties({ ready: [1] }); //! TS2322 Type 'number[]' is not assignable to type 'PlainValue | null'.
  await client.listRooms("arena", { filter: { where: { level: { min: "3" } } } }); //! TS2322 Type '{ min: string; }' is not assignable to type 'ConditionSpec | ConditionSpec[]'.
  const lobby = await client.subscribeLobby("arena", { sort: "-clients" });
  lobby.on("added", () => {}); //! TS2345 Argument of type '"added"' is not assignable to parameter of type 'keyof LobbyEvents'.
  lobby.on("update", (r) => r.metadata.mode === 3);
  client.matchmaker.on("match", (m) => m.reservationTtl); //! TS2551 Property 'reservationTtl' does not exist on type 'MatchFound'. Did you mean 'reservationTtlMs'?
  client.parties.on("state", (p) => p.members[0].nme); //! TS2551 Property 'nme' does not exist on type 'Presence'. Did you mean 'name'?
  const page = await client.listRooms();
  const more: string = page.more; //! TS2322 Type 'boolean' is not assignable to type 'string'.
  void more;
}
