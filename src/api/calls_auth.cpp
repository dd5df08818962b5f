// Authentication (device, email, custom id), refresh, logout, and the caller's own account.
#include "api/api_service.hpp"
#include "api/convert.hpp"
#include "api/identity_rules.hpp"
#include "auth/password.hpp"
#include "auth/sodium.hpp"

#include <algorithm>
#include <utility>

namespace craft::api {

namespace {

std::optional<CallError> check_length(std::string_view what, std::string_view v, size_t min, size_t max) {
  if (v.size() < min || v.size() > max)
    return bad_request(std::string(what) + " must be " + std::to_string(min) + "-" + std::to_string(max) + " bytes");
  return std::nullopt;
}

// Identity inputs follow one rule (identity_rules.hpp): refused with 400, never trimmed.
std::optional<CallError> check_identity(std::string_view what, std::string_view v, size_t min, size_t max) {
  if (auto problem = identity_problem(what, v, min, max)) return bad_request(std::move(*problem));
  return std::nullopt;
}

std::optional<CallError> check_email(std::string_view email) {
  if (auto problem = email_problem(email)) return bad_request(std::move(*problem));
  return std::nullopt;
}

// A username the client chose (empty: craftd picks a random one).
std::optional<CallError> check_new_username(std::string_view username) {
  if (username.empty()) return std::nullopt;
  return check_identity("username", username, kMinUsernameBytes, kMaxUsernameBytes);
}

std::optional<CallError> check_password(std::string_view password) {
  return check_length("password", password, 8, auth::kMaxPasswordBytes);
}

auth::PasswordCost cost_of(const std::string& name) {
  if (name == "minimum") return auth::PasswordCost::test_only;
  if (name == "moderate") return auth::PasswordCost::moderate;
  return auth::PasswordCost::interactive;
}

// Ten lowercase letters: 26^10 names, so collisions between random names are negligible.
std::string random_username() {
  std::string hex = auth::random_hex(10), name;
  for (size_t i = 0; i < 10; ++i) name += static_cast<char>('a' + std::stoi(hex.substr(2 * i, 2), nullptr, 16) % 26);
  return name;
}

CallError invalid_credentials() { return {v1::INVALID_CREDENTIALS, "wrong email or password"}; }

CallResult account_response(const store::Account& a) {
  v1::ApiResponse response;
  to_proto(a, response.mutable_account());
  return response;
}

}  // namespace

CallResult ApiService::auth_device(const v1::AuthDeviceRequest& r, const CallContext& c) {
  if (auto e = check_identity("deviceId", r.device_id(), kMinDeviceIdBytes, kMaxDeviceIdBytes)) return *e;
  if (auto e = check_new_username(r.username())) return *e;
  return auth_by_link("device", r.device_id(), r.create(), r.username(), c);
}

CallResult ApiService::auth_custom(const v1::AuthCustomRequest& r, const CallContext& c) {
  if (auto e = check_identity("id", r.id(), kMinCustomIdBytes, kMaxCustomIdBytes)) return *e;
  if (auto e = check_new_username(r.username())) return *e;
  return auth_by_link("custom", r.id(), r.create(), r.username(), c);
}

CallResult ApiService::auth_by_link(const std::string& kind, const std::string& id, bool create,
                                    const std::string& username, const CallContext& c) {
  if (auto e = check_attempts(c, kind + ":" + id)) return *e;
  const store::LinkedId link{kind, id};
  auto found = store_->find_account_by_link(link);
  if (found) return issue_session(*found, false);
  if (found.code() != store::Errc::not_found) return from_store(found.error());
  if (!create) return CallError{v1::NOT_FOUND, "no account has this " + kind + " id; pass create: true to make one"};
  store::NewAccount account;
  account.username = username.empty() ? random_username() : username;
  account.links = {link};
  auto made = store_->create_account(account);
  if (made) return issue_session(*made, true);
  // Two first logins of one new device at once: the other call made the account.
  if (auto again = store_->find_account_by_link(link)) return issue_session(*again, false);
  return from_store(made.error());
}

CallResult ApiService::auth_email(const v1::AuthEmailRequest& r, const CallContext& c) {
  if (auto e = check_email(r.email())) return *e;
  const std::string email = fold_ascii_case(r.email());
  if (auto e = check_password(r.password())) return *e;
  if (auto e = check_new_username(r.username())) return *e;
  if (auto e = check_attempts(c, "email:" + email)) return *e;
  auto found = store_->find_account_by_email(email);
  if (found) {
    if (found->password_hash.empty() || !auth::verify_password(r.password(), found->password_hash))
      return invalid_credentials();
    return issue_session(*found, false);
  }
  if (found.code() != store::Errc::not_found) return from_store(found.error());
  if (!r.create()) {
    auth::verify_password_dummy(r.password());  // as slow as a real miss: no probing for emails
    return invalid_credentials();
  }
  auto hash = auth::hash_password(r.password(), cost_of(config_.auth.password_cost));
  if (!hash) return CallError{v1::UNAVAILABLE, "cannot hash the password now"};
  store::NewAccount account;
  account.username = r.username().empty() ? random_username() : r.username();
  account.email = email;
  account.password_hash = *hash;
  auto made = store_->create_account(account);
  if (!made) return from_store(made.error());
  return issue_session(*made, true);
}

CallResult ApiService::auth_refresh(const v1::RefreshRequest& r, const CallContext& c) {
  (void)c;
  auto verified = verify_token(r.refresh_token(), auth::TokenKind::refresh);
  if (auto* e = std::get_if<CallError>(&verified)) return *e;
  auto& v = std::get<Verified>(verified);
  // Each refresh token works once: a stolen copy stops working when its owner refreshes.
  // verify_token's revocation check is only a fast path; this one atomic insert decides, so
  // of several concurrent refreshes with one token (any worker, any node) exactly one wins.
  auto first = store_->consume_token(v.token.token_id, v.token.expires_at);
  if (!first) return from_store(first.error());
  if (!*first) return CallError{v1::TOKEN_REVOKED, "refresh token revoked (logged out or used)"};
  return issue_session(v.account, false);
}

Revocation ban_revocation(std::string account_id) {
  return {std::move(account_id), "", {v1::ACCOUNT_BANNED, "account banned", true}};
}

Revocation logout_revocation(std::string token_id) {
  return {"", std::move(token_id), {v1::TOKEN_REVOKED, "session token revoked (logged out)", true}};
}

CallResult ApiService::auth_logout(const v1::LogoutRequest& r, const CallContext& c, std::vector<Revocation>& revoked) {
  auto who = caller(c);
  if (auto* e = std::get_if<CallError>(&who)) return *e;
  auto& id = std::get<Identity>(who);
  if (!id.token_id.empty()) {
    if (auto done = store_->revoke_token(id.token_id, id.expires_at); !done) return from_store(done.error());
    // Sockets that said hello with this token close too (after this call's reply).
    revoked.push_back(logout_revocation(id.token_id));
  }
  if (!r.refresh_token().empty()) {
    // An expired refresh token needs no revoking; a forged one is an error.
    auto verified = signer_->verify(r.refresh_token(), auth::TokenKind::refresh, now_s());
    if (auto* e = std::get_if<auth::TokenError>(&verified); e && *e != auth::TokenError::expired)
      return bad_request(std::string("invalid refresh token: ") + auth::to_string(*e));
    if (auto* p = std::get_if<auth::TokenPayload>(&verified)) {
      if (p->account_id != id.account_id) return CallError{v1::PERMISSION_DENIED, "not your refresh token"};
      if (auto done = store_->revoke_token(p->token_id, p->expires_at); !done) return from_store(done.error());
    }
  }
  v1::ApiResponse response;
  response.mutable_empty();
  return response;
}

CallResult ApiService::account_get(const CallContext& c) {
  auto who = caller(c);
  if (auto* e = std::get_if<CallError>(&who)) return *e;
  auto account = store_->get_account(std::get<Identity>(who).account_id);
  if (!account) return from_store(account.error());
  return account_response(*account);
}

CallResult ApiService::account_update(const v1::AccountUpdateRequest& r, const CallContext& c) {
  auto who = caller(c);
  if (auto* e = std::get_if<CallError>(&who)) return *e;
  store::AccountUpdate update;
  if (r.has_username()) {
    if (auto e = check_identity("username", r.username().value(), kMinUsernameBytes, kMaxUsernameBytes)) return *e;
    update.username = r.username().value();
  }
  if (r.has_display_name()) update.display_name = r.display_name().value();
  if (r.has_metadata()) {
    auto metadata = json_value(r.metadata(), "metadata");
    if (auto* e = std::get_if<CallError>(&metadata)) return *e;
    update.metadata = std::move(std::get<std::string>(metadata));
  }
  auto account = store_->update_account(std::get<Identity>(who).account_id, update);
  if (!account) return from_store(account.error());
  return account_response(*account);
}

CallResult ApiService::account_link(const v1::LinkRequest& r, const CallContext& c, bool link) {
  auto who = caller(c);
  if (auto* e = std::get_if<CallError>(&who)) return *e;
  const std::string& account_id = std::get<Identity>(who).account_id;
  int given = !r.device_id().empty() + !r.custom_id().empty() + !r.email().empty();
  if (given != 1) return bad_request("give exactly one of deviceId, customId, email");
  store::Status done = store::ok_status();
  if (!r.email().empty()) {
    const std::string email = fold_ascii_case(r.email());
    // Unlink takes any address the account has (even one stored before this rule).
    if (auto e = link ? check_email(r.email()) : check_length("email", email, kMinEmailBytes, kMaxEmailBytes)) return *e;
    if (link) {
      if (auto e = check_password(r.password())) return *e;
      if (auto e = check_attempts(c, "email:" + email)) return *e;
      auto hash = auth::hash_password(r.password(), cost_of(config_.auth.password_cost));
      if (!hash) return CallError{v1::UNAVAILABLE, "cannot hash the password now"};
      if (auto other = store_->find_account_by_email(email); other && other->id != account_id)
        return CallError{v1::ALREADY_EXISTS, "email is used by another account"};
      done = store_->link_email(account_id, email, *hash);
    } else {
      auto account = store_->get_account(account_id);
      if (!account) return from_store(account.error());
      if (account->email != email) return CallError{v1::NOT_FOUND, "the account does not have this email"};
      done = store_->unlink_email(account_id);
    }
  } else {
    bool device = !r.device_id().empty();
    const std::string& value = device ? r.device_id() : r.custom_id();
    // Linking follows the identity rule; unlinking also takes an id stored before it.
    auto [min, max] = device ? std::pair{kMinDeviceIdBytes, kMaxDeviceIdBytes} : std::pair{kMinCustomIdBytes, kMaxCustomIdBytes};
    const char* what = device ? "deviceId" : "customId";
    if (auto e = link ? check_identity(what, value, min, max) : check_length(what, value, min, max)) return *e;
    store::LinkedId id{device ? "device" : "custom", value};
    done = link ? store_->link_id(account_id, id) : store_->unlink_id(account_id, id);
  }
  if (!done) return from_store(done.error());
  return account_get(c);
}

CallResult ApiService::account_ban(const v1::AccountBanRequest& r, const CallContext& c,
                                   std::vector<Revocation>& revoked) {
  if (!is_admin(c)) return CallError{v1::PERMISSION_DENIED, "banning needs Authorization: Bearer <auth.admin_key>"};
  if (auto done = store_->set_banned(r.account_id(), r.banned()); !done) return from_store(done.error());
  if (r.banned()) revoked.push_back(ban_revocation(r.account_id()));
  v1::ApiResponse response;
  response.mutable_empty();
  return response;
}

}  // namespace craft::api
