#compdef kubectl-tenant
# zsh completion of kubectl-tenant (`kubectl tenant completion zsh`). The candidates come from
# `kubectl-tenant __complete ARGS... WORD`: one per line (a tab and a description may follow),
# then `:N`, where N has bit 4 set when file names are not wanted.
_kubectl_tenant() {
    local out directive line
    local -a lines candidates
    out=$(kubectl-tenant __complete "${(@)words[2,CURRENT-1]}" "${words[CURRENT]}" 2>/dev/null) || return 1
    lines=("${(@f)out}")
    directive=${lines[-1]#:}
    candidates=()
    for line in "${(@)lines[1,-2]}"; do
        [[ -z $line ]] && continue
        if [[ $line == *$'\t'* ]]; then
            candidates+=("${${line%%$'\t'*}//:/\\:}:${line#*$'\t'}")
        else
            candidates+=("${line//:/\\:}")
        fi
    done
    if ((${#candidates} > 0)); then
        _describe -t values 'kubectl-tenant' candidates
    elif (((directive & 4) == 0)); then
        _files
    fi
}
compdef _kubectl_tenant kubectl-tenant
