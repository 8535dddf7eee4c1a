#!/usr/bin/env bash
# Rebuilds agency-photo.jpg: a real camera photo (fdo18635.jpg, Nikon D1X, from the
# python-xmp-toolkit 2.1.0 sdist, test/samples/) cropped to 5:4 and scaled to 1350x1080 with
# Pillow (EXIF kept), then tagged by Debian's exiftool the way a photo agency delivers it:
# creator, credit, copyright, caption, keywords, usage terms, licence dates, model release,
# digital source type, location names, GPS and orientation 6 (a 4:5 portrait on screen).
set -euo pipefail
base="${1:?usage: make-agency-photo.sh BASE.jpg}"
out="$(dirname "$0")/agency-photo.jpg"
cp "$base" "$out"
exiftool -q -overwrite_original -codedcharacterset=utf8 -MakerNotes= \
  -XMP-dc:Title='Trail runner above the fjord' -IPTC:ObjectName='Trail runner above the fjord' \
  -XMP-photoshop:Headline='Dawn run on Aksla' -IPTC:Headline='Dawn run on Aksla' \
  -XMP-dc:Description='A trail runner crosses the ridge above Ålesund at sunrise.' \
  -IPTC:Caption-Abstract='A trail runner crosses the ridge above Ålesund at sunrise.' \
  -EXIF:ImageDescription='A trail runner crosses the ridge above Alesund at sunrise.' \
  -XMP-dc:Creator='Ingrid Solberg' -IPTC:By-line='Ingrid Solberg' -EXIF:Artist='Ingrid Solberg' \
  -XMP-photoshop:Credit='Nordlys Agency / Ingrid Solberg' -IPTC:Credit='Nordlys Agency / Ingrid Solberg' \
  -XMP-dc:Rights='© 2026 Nordlys Agency AS' -IPTC:CopyrightNotice='© 2026 Nordlys Agency AS' \
  -EXIF:Copyright='(c) 2026 Nordlys Agency AS' \
  -XMP-xmpRights:UsageTerms='Social and web use by Halden Outdoor until 2027-06-30. No print.' \
  -XMP-xmpRights:WebStatement='https://nordlys.example/licences/HAL-4711' -XMP-xmpRights:Marked=true \
  -XMP-plus:LicenseStartDate=2026:07:01 -XMP-plus:LicenseEndDate=2027:06:30 \
  -XMP-plus:ModelReleaseStatus='MR-UMR' -XMP-plus:ModelReleaseID='NA-2026-0042' \
  -XMP-iptcExt:PersonInImage='Kari Nordmann' \
  -XMP-iptcExt:DigitalSourceType='http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture' \
  -XMP-dc:Subject='trail running' -XMP-dc:Subject='Lifestyle' -XMP-dc:Subject='fjord' \
  -XMP-dc:Subject='Norway' -XMP-dc:Subject='Trail' \
  -IPTC:Keywords='trail running' -IPTC:Keywords='Lifestyle' -IPTC:Keywords='fjord' \
  -IPTC:Keywords='Norway' -IPTC:Keywords='Trail' \
  -XMP-iptcCore:Location='Aksla viewpoint' -IPTC:Sub-location='Aksla viewpoint' \
  -XMP-photoshop:City='Ålesund' -IPTC:City='Ålesund' \
  -XMP-photoshop:State='Møre og Romsdal' -IPTC:Province-State='Møre og Romsdal' \
  -XMP-photoshop:Country='Norway' -IPTC:Country-PrimaryLocationName='Norway' \
  -XMP-iptcCore:CountryCode='NO' -IPTC:Country-PrimaryLocationCode='NO' \
  '-XMP-iptcExt:LocationShownCity=Ålesund' '-XMP-iptcExt:LocationShownCountryName=Norway' \
  -EXIF:GPSLatitude=62.472229 -EXIF:GPSLatitudeRef=N -EXIF:GPSLongitude=6.154917 \
  -EXIF:GPSLongitudeRef=E -EXIF:GPSAltitude=189 -EXIF:GPSAltitudeRef=0 \
  -XMP-exif:GPSLatitude=62.472229 -XMP-exif:GPSLongitude=6.154917 \
  -EXIF:DateTimeOriginal='2026:06:14 04:12:09' -EXIF:OffsetTimeOriginal='+02:00' \
  -EXIF:LensModel='18.0-70.0 mm f/3.5-4.5' \
  -n -EXIF:Orientation=6 \
  "$out"
