// The connection badge both example pages show: the SDK's connection state and events
// (client.state, "state", "dropped", "resumed", "reconnected") in words a player reads; a
// few states are the page's own (joining, rejoining, left).
const labels = {
  idle: "not connected", connecting: "connecting…", joining: "joining…", connected: "connected",
  dropped: "reconnecting…", reconnecting: "reconnecting…", resuming: "reconnecting…", resumed: "resumed",
  rejoined: "rejoined as a new session", rejoining: "rejoining…", offline: "offline: waiting for the network…",
  disconnected: "disconnected", closed: "disconnected", left: "left", failed: "disconnected",
};
const badgeState = { dropped: "reconnecting", resuming: "reconnecting", closed: "disconnected" };

// element: where the label goes (its data-state drives the colour in style.css).
// onShow: called after each change. badge.log lists the states shown, for tests.
export function connectionBadge(element, { onShow } = {}) {
  let resumedAt = 0, lastNews = "";
  const badge = {
    log: [],
    rejoinPending: false,  // a new session whose rooms the SDK is rejoining
    show(state, detail) {
      if (state === "connected" && badge.rejoinPending) state = "rejoining";
      if (state === "connected" && Date.now() - resumedAt < 3000) state = lastNews;  // let "resumed" be seen
      // While the browser says the network is gone, that is the news, not the retry count.
      if (!navigator.onLine && ["reconnecting", "dropped", "resuming"].includes(state)) {
        state = "offline";
        detail = "";
      }
      if (state === "resumed" || state === "rejoined") {
        resumedAt = Date.now();
        lastNews = state;
      }
      element.dataset.state = badgeState[state] ?? state;
      element.textContent = (labels[state] ?? state) + (detail ? ` (${detail})` : "");
      if (badge.log.at(-1) !== state) badge.log.push(state);
      onShow?.();
    },
  };
  return badge;
}
