# The per-user client file that tells `queuectl` in any terminal which queue ./start.sh set up:
# database_url in $XDG_CONFIG_HOME/queuectl/config.toml (default ~/.config/queuectl/...).
# queuectl reads it after --database-url, QUEUECTL_DATABASE_URL and DATABASE_URL.
# Source it after common.sh; it defines functions only.
# shellcheck shell=bash

client_file() { printf '%s\n' "${XDG_CONFIG_HOME:-$HOME/.config}/queuectl/config.toml"; }

# The comment that marks the entry as this checkout's (stop.sh --purge removes only that).
client_file_marker() { printf '# written by %s/start.sh; ./stop.sh --purge removes it\n' "$QUEUECTL_ROOT"; }

# Record URL ($1) as database_url, replacing any earlier one; other settings are kept.
client_file_record() {
    local file tmp url=${1//\\/\\\\}
    url=${url//\"/\\\"}
    file=$(client_file)
    mkdir -p "$(dirname "$file")" || return 1
    tmp=$(mktemp "$file.XXXXXX") || return 1
    if [[ -f $file ]]; then
        grep -v -e '^[[:space:]]*database_url[[:space:]]*=' -e '^# written by .*/start\.sh;' \
            "$file" >"$tmp" || true
    fi
    { client_file_marker; printf 'database_url = "%s"\n' "$url"; } >>"$tmp"
    chmod 600 "$tmp" && mv "$tmp" "$file"
    say "recorded this queue in $file, so queuectl in any terminal uses it"
}

# Remove the entry this checkout wrote (and the file, if nothing else is left in it).
client_file_forget() {
    local file marker tmp
    file=$(client_file)
    marker=$(client_file_marker)
    [[ -f $file ]] && grep -qxF -- "$marker" "$file" || return 0
    tmp=$(mktemp "$file.XXXXXX") || return 1
    awk -v m="$marker" '$0 == m { skip = 1; next }
        skip && /^[[:space:]]*database_url[[:space:]]*=/ { skip = 0; next }
        { skip = 0; print }' "$file" >"$tmp"
    if grep -q '[^[:space:]]' "$tmp"; then
        chmod 600 "$tmp" && mv "$tmp" "$file"
    else
        rm -f "$tmp" "$file"
    fi
    say "removed this queue's database_url from $file"
}
