# fish completion of kubectl-tenant (`kubectl tenant completion fish`). The candidates come from
# `kubectl-tenant __complete ARGS... WORD`: one per line (a tab and a description may follow),
# then `:N`, where N has bit 4 set when file names are not wanted.
function __kubectl_tenant_complete
    set -l args (commandline -opc)[2..-1]
    set -l out (kubectl-tenant __complete $args (commandline -ct) 2>/dev/null)
    or return
    set -l directive (string replace -r '^:' '' -- $out[-1])
    set -e out[-1]
    if test (count $out) -gt 0
        printf '%s\n' $out
    else if test (math "bitand($directive, 4)") -eq 0
        __fish_complete_path (commandline -ct)
    end
end
complete -c kubectl-tenant -f -a '(__kubectl_tenant_complete)'
