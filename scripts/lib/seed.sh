# shellcheck shell=bash
# scripts/lib/seed.sh: the demo event, seeded through the sync server's admin command line.
# Sourced by scripts/demo and scripts/e2e (after common.sh).
#
#   seed_demo_event DIR ADMIN...   ADMIN is the admin command (e.g. sync-server admin --json);
#                                  DIR receives attendees.csv. Prints the event id.
#
# The event: "Harbour Days (demo)" in Europe/Berlin from today to tomorrow; ticket types
# "Day pass" and "VIP"; gates "Main entrance" (entry and exit, re-entry after exit), "VIP lounge"
# (entry only, VIP only), "Photo studio" (entry only, asks for the photo consent of the form
# before it admits) and "Badge desk" (entry only, prints a guest's first badge); the walk-in form of packaging/demo; 1,000 attendees with codes DEMO-0001 to
# DEMO-1000 (every tenth a VIP); its package published.

# json EXPR: reads JSON on stdin and prints the value at EXPR (".id", ".token").
json() { node -e 'let t="";process.stdin.on("data",c=>t+=c).on("end",()=>{const v=JSON.parse(t);console.log(eval("v"+process.argv[1]))})' "$1"; }

seed_demo_event() {
    local dir=$1
    shift
    local admin=("$@") event day vip start end i type
    start=$(date -u +%Y-%m-%dT%H:%M:%SZ -d 'today 00:00')
    end=$(date -u +%Y-%m-%dT%H:%M:%SZ -d 'tomorrow 23:59')
    event=$("${admin[@]}" event create --name "Harbour Days (demo)" --time-zone Europe/Berlin \
        --starts-at "$start" --ends-at "$end" | json .id)
    day=$("${admin[@]}" ticket-type create --event "$event" --name "Day pass" | json .id)
    vip=$("${admin[@]}" ticket-type create --event "$event" --name "VIP" | json .id)
    : "$day"
    "${admin[@]}" gate create --event "$event" --name "Main entrance" --mode entry_and_exit --reentry after_exit >/dev/null
    "${admin[@]}" gate create --event "$event" --name "VIP lounge" --mode entry_only --reentry always --allow "$vip" >/dev/null
    "${admin[@]}" gate create --event "$event" --name "Photo studio" --mode entry_only --reentry always --require photo_consent >/dev/null
    "${admin[@]}" gate create --event "$event" --name "Badge desk" --mode entry_only --reentry always --print first >/dev/null
    "${admin[@]}" form upload --event "$event" "$GATEPASS_ROOT/packaging/demo/walk-in-form.json" >/dev/null
    {
        echo "first_name,last_name,email,ticket_type,code,company"
        for i in $(seq 1 1000); do
            type="Day pass"
            ((i % 10 == 0)) && type="VIP"
            printf 'Guest%d,Demo,guest%d@example.org,%s,DEMO-%04d,Company %d\n' "$i" "$i" "$type" "$i" $((i % 37))
        done
    } >"$dir/attendees.csv"
    "${admin[@]}" import --event "$event" "$dir/attendees.csv" >/dev/null || return 1
    "${admin[@]}" package publish --event "$event" >/dev/null || return 1
    [[ -n $event ]] || return 1
    echo "$event"
}
