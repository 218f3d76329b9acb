"""Composition root of the storage service."""

from __future__ import annotations

from prometheus_client import Gauge
from pydantic_settings import SettingsConfigDict

from contracts import storage as c
from contracts.storage import FolderStatus, Ownership
from services.runtime.actors import ActorDirectory
from services.runtime.host import ServiceHost, process_edge, run_service
from services.runtime.permissions import PermissionGuard
from services.runtime.serve import serve
from services.runtime.settings import ServiceSettings
from services.runtime.store import store_env
from services.storage.app import Cluster, StorageApplication
from services.storage.domain.access import ALL_HOST_OPERATIONS
from services.storage.handlers import HANDLERS, StorageDeps
from services.storage.hosts import Hosts
from services.storage.queries import StorageQueries
from services.storage.reactions import subscriptions
from services.storage.translate import StorageTranslator
from services.storage.views import StorageView


class StorageSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BAIKAL_", extra="ignore")

    service: str = "storage"
    # "name=/path,..."; empty: the embedded host `local` at <data dir>/vfolders.
    storage_hosts: str = ""
    # The host of a request that names none; "" for none (then every request must name one).
    storage_default_host: str | None = None
    # Which folder ownerships this cluster allows (reference `volumes/_types`).
    storage_ownership_types: str = "user,group"
    # Hosts every domain allows, with every operation ("" for none): identity keeps no
    # domain or project `allowed_vfolder_hosts`, so this stands in for the domain's map.
    # Default: the default host.
    storage_domain_hosts: str | None = None


def cluster(settings: StorageSettings) -> Cluster:
    hosts = Hosts.parse(settings.storage_hosts, settings.data_dir,
                        settings.storage_default_host)
    types = frozenset(t.strip() for t in settings.storage_ownership_types.split(",")
                      if t.strip())
    unknown = types - {"user", "group"}
    if unknown:
        raise ValueError(f"BAIKAL_STORAGE_OWNERSHIP_TYPES: unknown {sorted(unknown)}")
    domain = settings.storage_domain_hosts
    names = ([hosts.default] if hosts.default else []) if domain is None else [
        h.strip() for h in domain.split(",") if h.strip()]
    return Cluster(hosts, types, {name: sorted(ALL_HOST_OPERATIONS) for name in names})


def build(settings: StorageSettings) -> ServiceHost:
    directory = ActorDirectory()
    app = StorageApplication(cluster(settings), store_env(settings, "storage"), directory)
    view = StorageView(app)
    view.attach()
    app.view = view
    app.recover(sweep_orphans=settings.single_writer)
    queries = StorageQueries(app)
    # Only the scheduler mounts folders for its sessions (`folder.mount` is system-only).
    guard = directory.guarding(PermissionGuard(directory.resolve,
                                               trusted_systems=frozenset({"scheduler"})))
    app.guard = guard
    deps = StorageDeps(app, queries)
    host = ServiceHost(settings, app, lambda d: serve(d, c.SPECS, HANDLERS, deps),
                       StorageTranslator(app), subscriptions(app), guard=guard)
    host.components.extend([directory, app.group_grants])
    host.follow(view)
    folder_gauges(host, view)
    return host


def folder_gauges(host: ServiceHost, view: StorageView) -> None:
    """Folders by status and ownership, pending invitations: read from the view on scrape."""
    folders = Gauge("bai_storage_folders", "Folders by status and ownership",
                    ["status", "ownership"], registry=host.metrics.registry)
    for status in FolderStatus:
        for ownership in Ownership:
            folders.labels(status.value, ownership.value).set_function(
                lambda s=status.value, o=ownership.value: view.count(s, o))
    Gauge("bai_storage_invitations_pending", "Invitations waiting for an answer",
          registry=host.metrics.registry).set_function(view.pending_invitations)


def main() -> None:
    settings = StorageSettings()
    process_edge(settings)
    run_service(build(settings).run_until_signalled(), settings)


if __name__ == "__main__":
    main()
