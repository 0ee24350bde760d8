// The login page: trades an admin token for a session cookie, then goes to
// the dashboard. A failed one-time code comes back here with ?error=code.
const form = document.getElementById("login-form");
const error = document.getElementById("login-error");
const token = document.getElementById("token");

if (new URLSearchParams(location.search).get("error") === "code") {
  error.textContent = "That login link has expired or was already used. Run `suture dashboard` again, or log in with a token.";
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.textContent = "";
  if (!token.value.trim()) {
    error.textContent = "Enter the admin token.";
    token.focus();
    return;
  }
  const reply = await fetch("/login", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token: token.value }),
  });
  if (reply.ok) {
    // Back to the view the redirect came from (the fragment survives it).
    location.assign(`/${location.hash}`);
    return;
  }
  const body = await reply.json().catch(() => ({}));
  error.textContent = body.error || `Login failed (${reply.status}).`;
  token.select();
});
token.focus();
