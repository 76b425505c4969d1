#!/usr/bin/env bash
# Writes the small sample register files in imports/sample/: every layout the service reads
# (CONTRACT §4). Numbers are in Ofcom's drama ranges and addresses are made up.
set -euo pipefail
cd "$(dirname "$0")/sample"

# A number in the TPS layouts: with the space (code left-justified in 5, the rest
# right-justified in 7) for even i, without (left-justified, padded to 12) for odd i. CRLF.
record() { # national-number index
  local n=$1 i=$2
  if (( i % 2 == 0 )); then
    local code=${n:0:4}; [[ $n == 01* ]] && code=${n:0:5}
    printf '%-5s%7s\r\n' "$code" "${n:${#code}}"
  else
    printf '%-12s\r\n' "$n"
  fi
}

# TPS full file: 020 7946 0000-0049 (London) and 0191 496 0000-0009 (Tyneside).
{ for i in $(seq 0 49); do record "$(printf '0207946%04d' "$i")" "$i"; done
  for i in $(seq 0 9); do record "$(printf '0191496%04d' "$i")" "$i"; done; } > tps-2026-11-23.txt
# TPS change file: 0050 listed, 0001 removed.
{ printf 'A '; record 02079460050 0; printf 'D '; record 02079460001 1; } > tps-2026-11-24-delta.txt
# CTPS full file: 020 7946 0900-0909 (companies), LF line ends.
for i in $(seq 900 909); do record "$(printf '0207946%04d' "$i")" "$i" | tr -d '\r'; done > ctps-2026-11-23.txt

# MPS Personal fixed-width: 415 characters a record.
mps_fixed() { # flag date prefix forename surname line1 line2 line3 town county postcode
  printf '%-1s%-8s%-16s%-20s%-50s%-50s%-10s%-50s%-50s%-50s%-50s%-50s%-8s%-2s\r\n' \
    "$1" "$2" "" "$3" "$4" "$5" "" "$6" "$7" "$8" "$9" "${10}" "${11}" "1A"
}
{ mps_fixed P 01092026 Mrs Jo Bloggs "Flat 2" "10 High Street" "" London "" "SW1A 1AA"
  mps_fixed P 15102026 Mr Sean "O'Brien" "Rose Cottage" "Mill Lane" "" Leeds "West Yorkshire" "LS1 1AA"
  mps_fixed X 03112026 Mr Albert Smith "23 Church Road" "" "" Manchester "" "M1 1AE"; } > mps-2026-11-23.dat
# MPS CSV with a header; a row without a surname is a household entry.
cat > mps-2026-11-24.csv <<'CSV'
flag,date_of_request,title,forename,surname,address_1,address_2,address_3,town,county,postcode
P,2026-11-02,Ms,Siân,Jones,Apt 2B,10 High St,,Cardiff,,CF10 1AA
P,20112026,,,,The Old Mill,Mill Lane,,York,,YO1 7HH
CSV
echo "wrote $(ls | wc -l) sample files in $(pwd)"
