# bash completion of kubectl-tenant (`kubectl tenant completion bash`). The candidates come from
# `kubectl-tenant __complete ARGS... WORD`: one per line (a tab and a description may follow),
# then `:N`, where N has bit 4 set when file names are not wanted.
_kubectl_tenant() {
    local cur=${COMP_WORDS[COMP_CWORD]}
    local out directive line
    out=$(kubectl-tenant __complete "${COMP_WORDS[@]:1:COMP_CWORD-1}" "$cur" 2>/dev/null) || return 0
    directive=${out##*$'\n'}
    directive=${directive#:}
    COMPREPLY=()
    while IFS= read -r line; do
        [[ -z $line || $line == :* ]] && continue
        COMPREPLY+=("${line%%$'\t'*}")
    done <<<"$out"
    if ((${#COMPREPLY[@]} == 0 && (directive & 4) == 0)); then
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    fi
    return 0
}
complete -o filenames -F _kubectl_tenant kubectl-tenant
