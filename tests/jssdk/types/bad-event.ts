// Events are a typed map: an unknown event name, or a handler for the wrong payload, is an error.
import { Client, type Room } from "@craft/client";

export function check(client: Client, room: Room): void {
  client.on("disconnected", () => {}); //! TS2345 Argument of type '"disconnected"' is not assignable to parameter of type 'keyof ClientEvents'.
  client.on("disconnect", (info) => info.cod); //! TS2551 Property 'cod' does not exist on type '{ code: number; reason: string; }'. Did you mean 'code'?
  room.on("join", (p) => p.nme); //! TS2551 Property 'nme' does not exist on type 'Presence'. Did you mean 'name'?
  client.on("state", ({ state }) => state === "offline"); //! TS2367 This comparison appears to be unintentional because the types 'ConnectionState' and '"offline"' have no overlap.
  room.on("joined", () => {}); //! TS2345 Argument of type '"joined"' is not assignable to parameter of type 'keyof RoomEvents'.
}
