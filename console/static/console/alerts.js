// Getting an agent's attention: a short beep made with WebAudio (no sound file), a browser
// notification while the tab is in the background, and a vibration on phones.

let audioContext = null;

// Browsers only let a page make sound after the user interacted with it: call this from a click.
export function unlockAudio() {
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return;
  if (!audioContext) audioContext = new Context();
  if (audioContext.state === "suspended") audioContext.resume().catch(() => {});
}

export function beep() {
  if (!audioContext || audioContext.state !== "running") return;
  const now = audioContext.currentTime;
  for (const [start, frequency] of [
    [0, 880],
    [0.18, 1175],
  ]) {
    const oscillator = audioContext.createOscillator();
    const gain = audioContext.createGain();
    oscillator.type = "sine";
    oscillator.frequency.value = frequency;
    gain.gain.setValueAtTime(0.0001, now + start);
    gain.gain.exponentialRampToValueAtTime(0.25, now + start + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, now + start + 0.16);
    oscillator.connect(gain).connect(audioContext.destination);
    oscillator.start(now + start);
    oscillator.stop(now + start + 0.17);
  }
}

export function askNotificationPermission() {
  if ("Notification" in window && Notification.permission === "default") {
    Notification.requestPermission().catch(() => {});
  }
}

export function notify(title, body, tag) {
  if (!("Notification" in window) || Notification.permission !== "granted") return null;
  try {
    const notification = new Notification(title, { body, tag, renotify: true });
    notification.onclick = () => {
      window.focus();
      notification.close();
    };
    return notification;
  } catch {
    return null; // Some mobile browsers only allow notifications from a service worker.
  }
}

export function vibrate() {
  if (navigator.vibrate) navigator.vibrate([120, 80, 120]);
}
