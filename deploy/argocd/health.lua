-- Argo CD health check for the ssoperator.io kinds (EnterpriseConnection, ConnectionProfile,
-- OrgRoleMapping, ProviderConfig, ClusterProviderConfig). Add it to argocd-cm as
-- resource.customizations.health.ssoperator.io_* (see README.md, "GitOps").
-- Runs with Argo CD's default libraries (base and table; no string library).
--
--   Healthy      Ready=True for the current generation
--   Suspended    the ssoperator.io/paused annotation is "true", or a computed change waits for a
--                person: a plan awaiting ssoperator.io/approve (changePolicy Manual), or a
--                would-be write reported by an operator running with --dry-run
--   Progressing  not reconciled yet, generation not observed, being deleted, or Ready=False
--                for a reason the operator retries by itself (provider unavailable, rate limited,
--                Kubernetes API errors, a connection that is not Ready yet)
--   Degraded     Ready=False for any other reason: rejected credentials or spec, a missing
--                Secret or ProviderConfig, a name taken at the provider, drift under ObserveOnly...
--                These wait for a change of the spec or of what it references.
local hs = { status = "Progressing", message = "Waiting for the operator" }

local waiting = {
  AwaitingApproval = true,
  WouldCreate = true,
  WouldUpdate = true,
  WouldDelete = true,
  WouldAdopt = true,
}

local retried = {
  ProviderUnavailable = true,
  RateLimited = true,
  KubernetesError = true,
  FinalizerError = true,
  ConnectionNotReady = true,
}

local meta = obj.metadata or {}
if meta.deletionTimestamp ~= nil then
  hs.message = "Being deleted"
  return hs
end
if meta.annotations ~= nil and meta.annotations["ssoperator.io/paused"] == "true" then
  hs.status = "Suspended"
  hs.message = "Paused by the ssoperator.io/paused annotation"
  return hs
end

local status = obj.status
if status == nil or status.conditions == nil then
  return hs
end
local generation = meta.generation
if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration < generation then
  hs.message = "Generation " .. generation .. " not reconciled yet"
  return hs
end

local ready = nil
for _, c in ipairs(status.conditions) do
  if c.type == "Ready" then
    ready = c
  end
end
if ready == nil then
  return hs
end
if ready.observedGeneration ~= nil and generation ~= nil and ready.observedGeneration < generation then
  hs.message = "Generation " .. generation .. " not reconciled yet"
  return hs
end

local message = ready.message or ""
if ready.reason ~= nil and ready.reason ~= "" then
  message = ready.reason .. ": " .. message
end
if ready.status == "True" then
  hs.status = "Healthy"
elseif ready.status == "False" and waiting[ready.reason or ""] then
  hs.status = "Suspended"
elseif ready.status == "False" and not retried[ready.reason or ""] then
  hs.status = "Degraded"
end
hs.message = message
return hs
